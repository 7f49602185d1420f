import { describe, expect, it } from 'vitest';
import { localSwarmOf, nodesOf, planSwarm, staleNodes, waitWhilePending, type LocalSwarm } from '../../src/swarm/model.js';
import { nodeCountFor, nodeNames } from '../../src/swarm/members.js';

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

  it('a manager that is a worker (of some swarm, no Cluster ID) leaves and creates the swarm anew; workers follow', () => {
    expect(planSwarm({ name: 's-1', local: worker('M') }, [{ name: 's-2', local: worker('W') }], [])).toEqual([
      { kind: 'leave', machine: 's-1' },
      { kind: 'init', machine: 's-1' },
      { kind: 'leave', machine: 's-2' },
      { kind: 'join', machine: 's-2' },
    ]);
  });
});

describe('planSwarm: nodes that are starting, locked or broken', () => {
  const pendingMgr: LocalSwarm = { state: 'pending', nodeId: 'M', controlAvailable: false, clusterId: 'C', managers: [] };
  const plan = (m: LocalSwarm, w: LocalSwarm = worker('W')) => () => planSwarm({ name: 's-1', local: m }, [{ name: 's-2', local: w }], [node('M', 's-1'), node('W', 's-2')], 's');

  it('a pending manager is never told to leave: the planner refuses instead', () => {
    expect(plan(pendingMgr)).toThrow(expect.objectContaining({ code: 'swarm-pending', hint: expect.stringContaining('swarm up --name s') }));
  });

  it('a manager of a swarm (Cluster ID set) that does not serve never leaves', () => {
    const lost: LocalSwarm = { state: 'active', nodeId: 'M', controlAvailable: false, clusterId: 'C', managers: ['M'] };
    expect(plan(lost)).toThrow(expect.objectContaining({ code: 'swarm-manager-unavailable' }));
  });

  it('a pending worker does not leave either', () => {
    expect(plan(mgr, { state: 'pending', nodeId: 'W', controlAvailable: false, managers: ['M'] })).toThrow(expect.objectContaining({ code: 'swarm-pending' }));
  });

  it('locked and error stop with a one-line message and a hint (unlock, or swarm rm)', () => {
    expect(plan({ ...mgr, state: 'locked', controlAvailable: false })).toThrow(expect.objectContaining({ code: 'swarm-locked', hint: expect.stringContaining('docker swarm unlock') }));
    expect(plan(mgr, { ...worker('W'), state: 'error' })).toThrow(expect.objectContaining({ code: 'swarm-error', hint: expect.stringContaining('skiff swarm rm') }));
    try {
      plan({ ...mgr, state: 'locked', controlAvailable: false })();
    } catch (e) {
      expect((e as Error).message).not.toContain('\n');
    }
  });
});

describe('waitWhilePending', () => {
  it('reads /info again while a node is pending, then hands back the settled reading', async () => {
    const readings = [[mgr]];
    let reads = 0;
    const waits: number[] = [];
    const got = await waitWhilePending(async () => readings[reads++]!, [{ ...mgr, state: 'pending' }], 60_000, () => waits.push(1), async () => {});
    expect(got).toEqual([mgr]);
    expect(reads).toBe(1);
    expect(waits).toEqual([1]);
  });

  it('gives up after the timeout and returns the pending reading (planSwarm then refuses it)', async () => {
    let t = 0;
    const pending = [{ ...mgr, state: 'pending' }];
    const got = await waitWhilePending(async () => pending, pending, 60_000, () => {}, async (ms) => void (t += ms), () => t);
    expect(got[0]!.state).toBe('pending');
    expect(t).toBe(60_000);
  });

  it('does not read again when nothing is pending', async () => {
    let reads = 0;
    await waitWhilePending(async () => (reads++, [mgr]), [mgr, worker('W')], 60_000, () => {});
    expect(reads).toBe(0);
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

  it('sizes a swarm: --nodes, else as many as it has, else 2; never smaller than it is', () => {
    expect(nodeCountFor('s', undefined, 0)).toBe(2);
    expect(nodeCountFor('s', undefined, 3)).toBe(3);
    expect(nodeCountFor('s', 5, 3)).toBe(5);
    expect(nodeCountFor('s', 3, 3)).toBe(3);
    expect(() => nodeCountFor('s', 1, 3)).toThrow(/has 3 nodes; --nodes 1 would leave out s-2\.\.s-3/);
  });

  it('names nodes S-1..S-N and refuses silly counts', () => {
    expect(nodeNames('swarm', 3)).toEqual(['swarm-1', 'swarm-2', 'swarm-3']);
    expect(() => nodeNames('swarm', 0)).toThrow(/--nodes/);
    expect(() => nodeNames('Bad/Name', 2)).toThrow(/network name/);
  });
});
