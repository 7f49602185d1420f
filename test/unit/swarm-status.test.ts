import { describe, expect, it } from 'vitest';
import type { Machine } from '../../src/machine/machine.js';
import type { LocalSwarm } from '../../src/swarm/model.js';
import { renderSwarmStatus, statusOf } from '../../src/swarm/status.js';

const machine = (name: string, address: string) => ({ name, config: { network: { address } } }) as unknown as Machine;
const machines = [machine('s-1', '198.18.0.2'), machine('s-2', '198.18.0.3')];
const local = (state: string, controlAvailable: boolean, nodeId = 'M'): LocalSwarm => ({ state, nodeId, controlAvailable, managers: [] });

describe('swarm status', () => {
  it('says the manager is not running only when its VM is not', () => {
    const s = statusOf('s', machines, { vms: ['stopped', 'running'], locals: [undefined, local('active', false, 'W')], nodes: [] });
    expect(s.managerReachable).toBe(false);
    expect(renderSwarmStatus(s)).toContain('(the manager s-1 is not running:');
  });

  it('says "not a manager (swarm inactive)" when the manager runs outside any swarm', () => {
    const s = statusOf('s', machines, { vms: ['running', 'running'], locals: [local('inactive', false, ''), local('inactive', false, '')], nodes: [] });
    expect(s.managerProblem).toBe('is not a manager (swarm inactive)');
    const text = renderSwarmStatus(s);
    expect(text).toContain('(the manager s-1 is not a manager (swarm inactive):');
    expect(text).not.toContain('not running');
  });

  it('says so when the VM runs but its engine does not answer', () => {
    const s = statusOf('s', machines, { vms: ['running', 'running'], locals: [undefined, undefined], nodes: [] });
    expect(renderSwarmStatus(s)).toContain('runs, but its Docker engine does not answer');
  });

  it('a serving manager: roles and states from its /nodes, no note', () => {
    const nodes = [
      { id: 'M', hostname: 's-1', role: 'manager', state: 'ready', availability: 'active', address: '198.18.0.2', leader: true },
      { id: 'W', hostname: 's-2', role: 'worker', state: 'ready', availability: 'active', address: '198.18.0.3', leader: false },
    ];
    const s = statusOf('s', machines, { vms: ['running', 'running'], locals: [local('active', true), local('active', false, 'W')], nodes });
    expect(s.managerReachable).toBe(true);
    expect(s.managerProblem).toBeUndefined();
    expect(s.members.map((m) => m.node?.role)).toEqual(['manager', 'worker']);
    expect(renderSwarmStatus(s)).not.toContain('(the manager');
  });
});
