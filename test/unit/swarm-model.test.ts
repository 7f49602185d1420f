import { describe, expect, it } from 'vitest';
import { localSwarmOf, nodesOf, planSwarm, staleNodes, type LocalSwarm } from '../../src/swarm/model.js';
import { nodeNames } from '../../src/swarm/members.js';

const inactive: LocalSwarm = { state: 'inactive', nodeId: '', controlAvailable: false, managers: [] };
const mgr: LocalSwarm = { state: 'active', nodeId: 'M', controlAvailable: true, clusterId: 'C', managers: ['M'] };
// A worker's engine reports no Cluster, only the managers it knows (as measured on Docker 26).
const worker = (id: string, manager = 'M'): LocalSwarm => ({ state: 'active', nodeId: id, controlAvailable: false, managers: [manager] });
const node = (id: string, hostname: string, state = 'ready') => ({ id, hostname, role: 'worker', state, availability: 'active', address: '', leader: false });

describe('planSwarm', () => {
  it('from nothing: init the manager, join every worker', () => {
    expect(planSwarm({ name: 's-1', local: inactive }, [{ name: 's-2', local: inactive }, { name: 's-3', local: inactive }], [])).toEqual([
      { kind: 'init', machine: 's-1' },
      { kind: 'join', machine: 's-2' },
      { kind: 'join', machine: 's-3' },
    ]);
  });

  it('a healthy swarm needs nothing', () => {
    expect(planSwarm({ name: 's-1', local: mgr }, [{ name: 's-2', local: worker('W') }], [node('M', 's-1'), node('W', 's-2')])).toEqual([]);
  });

  it('a worker that left joins again', () => {
    expect(planSwarm({ name: 's-1', local: mgr }, [{ name: 's-2', local: inactive }], [node('M', 's-1'), node('W', 's-2', 'down')])).toEqual([
      { kind: 'join', machine: 's-2' },
    ]);
  });

  it('a worker in another swarm, or removed from ours, leaves first', () => {
    expect(planSwarm({ name: 's-1', local: mgr }, [{ name: 's-2', local: worker('W', 'OTHER') }], [node('M', 's-1'), node('W', 's-2')])).toEqual([
      { kind: 'leave', machine: 's-2' },
      { kind: 'join', machine: 's-2' },
    ]);
    expect(planSwarm({ name: 's-1', local: mgr }, [{ name: 's-2', local: worker('W') }], [node('M', 's-1')])).toEqual([
      { kind: 'leave', machine: 's-2' },
      { kind: 'join', machine: 's-2' },
    ]);
  });

  it('a manager that is not a manager (a worker, an error) leaves and creates the swarm anew; workers follow', () => {
    expect(planSwarm({ name: 's-1', local: worker('M') }, [{ name: 's-2', local: worker('W') }], [])).toEqual([
      { kind: 'leave', machine: 's-1' },
      { kind: 'init', machine: 's-1' },
      { kind: 'leave', machine: 's-2' },
      { kind: 'join', machine: 's-2' },
    ]);
  });
});

describe('staleNodes', () => {
  it('finds the other entries of machines that now have another node ID (down, or still ready just after the leave), never a stranger', () => {
    const nodes = [node('M', 's-1'), node('OLD', 's-2', 'down'), node('NEW', 's-2'), node('X', 'elsewhere', 'down'), node('OLD3', 's-3', 'ready'), node('NEW3', 's-3')];
    expect(staleNodes(nodes, new Map([['s-2', 'NEW'], ['s-3', 'NEW3'], ['s-4', '']])).map((n) => n.id)).toEqual(['OLD', 'OLD3']);
  });
});

describe('engine answers', () => {
  it('reads GET /info and GET /nodes', () => {
    expect(localSwarmOf({ Swarm: { LocalNodeState: 'active', NodeID: 'n', ControlAvailable: true, Cluster: { ID: 'c' }, RemoteManagers: [{ NodeID: 'n', Addr: '198.18.0.2:2377' }] } })).toEqual({
      state: 'active', nodeId: 'n', controlAvailable: true, clusterId: 'c', managers: ['n'],
    });
    // A worker: no Cluster, RemoteManagers names the manager.
    expect(localSwarmOf({ Swarm: { LocalNodeState: 'active', NodeID: 'w', ControlAvailable: false, RemoteManagers: [{ NodeID: 'M', Addr: 'x' }] } })).toEqual(worker('w'));
    expect(localSwarmOf({ Swarm: { LocalNodeState: 'inactive', NodeID: '', RemoteManagers: null } })).toEqual(inactive);
    expect(localSwarmOf({})).toEqual(inactive);
    expect(nodesOf([{ ID: 'a', Description: { Hostname: 's-1' }, Spec: { Role: 'manager', Availability: 'active' }, Status: { State: 'ready', Addr: '198.18.0.2' }, ManagerStatus: { Leader: true } }])).toEqual([
      { id: 'a', hostname: 's-1', role: 'manager', state: 'ready', availability: 'active', address: '198.18.0.2', leader: true },
    ]);
  });

  it('names nodes S-1..S-N and refuses silly counts', () => {
    expect(nodeNames('swarm', 3)).toEqual(['swarm-1', 'swarm-2', 'swarm-3']);
    expect(() => nodeNames('swarm', 0)).toThrow(/--nodes/);
    expect(() => nodeNames('Bad/Name', 2)).toThrow(/network name/);
  });
});
