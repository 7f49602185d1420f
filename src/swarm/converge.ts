import type { Machine } from '../machine/machine.js';
import { engineOk } from './engine-api.js';
import { SWARM_PORT } from './addresses.js';
import { localSwarmOf, nodesOf, planSwarm, staleNodes, waitWhilePending, isPending, type LocalSwarm, type SwarmNode, type SwarmStep } from './model.js';

/**
 * Swarm's default address pool is 10.0.0.0/8 in /24s: its third overlay would be
 * 10.0.2.0/24, the guest's QEMU user network, and break the guest's way out.
 * 10.200.0.0/16 keeps overlays (and ingress) clear of it and of 198.18/16.
 */
export const SWARM_ADDR_POOL = '10.200.0.0/16';
/** How long a node may stay "pending" (its swarm starting after a boot) before skiff gives up. */
const PENDING_WAIT_MS = 60_000;

export async function localSwarm(m: Machine, timeoutMs?: number): Promise<LocalSwarm> {
  return localSwarmOf(await engineOk(m.paths.dockerSocket, m.name, 'GET', '/info', undefined, timeoutMs));
}

export async function managerNodes(m: Machine): Promise<SwarmNode[]> {
  return nodesOf(await engineOk(m.paths.dockerSocket, m.name, 'GET', '/nodes'));
}

export interface Converged {
  steps: SwarmStep[];
  /** When no step was taken: each machine's /info and the manager's /nodes as read, still true (saves reading them again). */
  unchanged?: { locals: LocalSwarm[]; nodes: SwarmNode[] };
}

/** Where one node advertises itself to the swarm and where its Swarm listens ("ADDR:2377"). */
export interface NodeAddress {
  advertise: string;
  listen: string;
}

export interface SwarmAddresses {
  manager: NodeAddress;
  /** By machine name. */
  workers: Record<string, NodeAddress>;
}

export interface ConvergeRequest {
  /** The swarm's name, for hints. */
  swarm: string;
  manager: Machine;
  workers: Machine[];
  /**
   * Asked only when a node has to create or join the swarm (a healthy swarm costs
   * no look at its hosts), with the steps about to be taken.
   */
  addresses(steps: SwarmStep[]): Promise<SwarmAddresses>;
  progress(text: string): void;
}

/**
 * Makes `manager` the swarm's manager and every worker a member, doing only what
 * is missing; returns the steps taken (none on a healthy swarm).
 */
export async function converge(req: ConvergeRequest): Promise<Converged> {
  const { manager, workers, progress } = req;
  const all = [manager, ...workers];
  const read = () => Promise.all(all.map((m) => localSwarm(m)));
  const locals = await waitWhilePending(read, await read(), PENDING_WAIT_MS, (now) =>
    progress(`waiting for the swarm to come up on ${all.filter((_, i) => isPending(now[i]!)).map((m) => m.name).join(', ')}`),
  );
  const mgrLocal = locals[0]!;
  const nodes = mgrLocal.state === 'active' && mgrLocal.controlAvailable ? await managerNodes(manager) : [];
  const steps = planSwarm(
    { name: manager.name, local: mgrLocal },
    workers.map((w, i) => ({ name: w.name, local: locals[i + 1]! })),
    nodes,
    req.swarm,
  );
  const byName = new Map(all.map((m) => [m.name, m]));
  const addrs = steps.some((s) => s.kind !== 'leave') ? await req.addresses(steps) : undefined;
  let token: string | undefined;
  for (const step of steps) {
    const m = byName.get(step.machine)!;
    const sock = m.paths.dockerSocket;
    if (step.kind === 'leave') {
      progress(`${m.name}: leaving its old swarm`);
      await engineOk(sock, m.name, 'POST', '/swarm/leave?force=true');
    } else if (step.kind === 'init') {
      const a = addrs!.manager;
      progress(`${m.name}: creating the swarm (manager on ${a.advertise})`);
      await engineOk(sock, m.name, 'POST', '/swarm/init', {
        ListenAddr: a.listen,
        AdvertiseAddr: a.advertise,
        DataPathAddr: a.advertise,
        DefaultAddrPool: [SWARM_ADDR_POOL],
        SubnetSize: 24,
      });
    } else {
      const a = addrs!.workers[m.name]!;
      token ??= ((await engineOk(manager.paths.dockerSocket, manager.name, 'GET', '/swarm')) as { JoinTokens?: { Worker?: string } }).JoinTokens?.Worker;
      progress(`${m.name}: joining as a worker`);
      await engineOk(sock, m.name, 'POST', '/swarm/join', {
        ListenAddr: a.listen,
        AdvertiseAddr: a.advertise,
        DataPathAddr: a.advertise,
        RemoteAddrs: [`${addrs!.manager.advertise}:${SWARM_PORT}`],
        JoinToken: token,
      });
    }
  }
  if (steps.some((s) => s.kind === 'join')) {
    // Nodes are listed under their host's name: a remote host's need not be its machine's.
    const now = await Promise.all(workers.map(async (w) => {
      const l = await localSwarm(w);
      return [l.hostname ?? w.name, l.nodeId] as const;
    }));
    for (const n of staleNodes(await managerNodes(manager), new Map(now))) {
      progress(`removing the stale entry of ${n.hostname}`);
      await engineOk(manager.paths.dockerSocket, manager.name, 'DELETE', `/nodes/${encodeURIComponent(n.id)}?force=true`);
    }
  }
  return steps.length === 0 ? { steps, unchanged: { locals, nodes } } : { steps };
}
