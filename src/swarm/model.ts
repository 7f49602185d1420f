/** What the engines say about the swarm, reduced to what `swarm up` and `status` act on. */

/** GET /info's Swarm section of one machine. */
export interface LocalSwarm {
  /** "inactive" | "pending" | "active" | "error" | "locked" */
  state: string;
  nodeId: string;
  /** True on a manager. */
  controlAvailable: boolean;
  /** The swarm it belongs to (Cluster.ID): only a manager's engine reports it. */
  clusterId?: string;
  /** Node IDs of the managers it knows (RemoteManagers): how a worker says whose swarm it is in. */
  managers: string[];
}

export function localSwarmOf(info: unknown): LocalSwarm {
  const s =
    (info as { Swarm?: { LocalNodeState?: string; NodeID?: string; ControlAvailable?: boolean; Cluster?: { ID?: string }; RemoteManagers?: Array<{ NodeID?: string }> | null } })
      .Swarm ?? {};
  return {
    state: s.LocalNodeState ?? 'inactive',
    nodeId: s.NodeID ?? '',
    controlAvailable: s.ControlAvailable ?? false,
    ...(s.Cluster?.ID ? { clusterId: s.Cluster.ID } : {}),
    managers: (s.RemoteManagers ?? []).map((m) => m.NodeID ?? '').filter((id) => id !== ''),
  };
}

/** One entry of the manager's GET /nodes. */
export interface SwarmNode {
  id: string;
  hostname: string;
  role: string;
  /** "ready" | "down" | "unknown" | "disconnected" */
  state: string;
  availability: string;
  address: string;
  leader: boolean;
}

export function nodesOf(list: unknown): SwarmNode[] {
  if (!Array.isArray(list)) return [];
  return list.map((n) => {
    const x = n as {
      ID?: string;
      Description?: { Hostname?: string };
      Spec?: { Role?: string; Availability?: string };
      Status?: { State?: string; Addr?: string };
      ManagerStatus?: { Leader?: boolean; Addr?: string };
    };
    return {
      id: x.ID ?? '',
      hostname: x.Description?.Hostname ?? '',
      role: x.Spec?.Role ?? 'worker',
      state: x.Status?.State ?? 'unknown',
      availability: x.Spec?.Availability ?? 'active',
      address: x.Status?.Addr ?? x.ManagerStatus?.Addr?.split(':')[0] ?? '',
      leader: x.ManagerStatus?.Leader ?? false,
    };
  });
}

export type SwarmStep =
  | { kind: 'leave'; machine: string }
  | { kind: 'init'; machine: string }
  | { kind: 'join'; machine: string };

/**
 * What it takes to make `manager` the manager and every worker a member of its
 * swarm. Pure, so every case is unit-tested. A worker that is in another swarm
 * (or in ours while the manager has none) leaves first.
 */
export function planSwarm(manager: { name: string; local: LocalSwarm }, workers: Array<{ name: string; local: LocalSwarm }>, nodes: SwarmNode[]): SwarmStep[] {
  const steps: SwarmStep[] = [];
  const managerActive = manager.local.state === 'active' && manager.local.controlAvailable;
  if (manager.local.state !== 'inactive' && !managerActive) steps.push({ kind: 'leave', machine: manager.name });
  if (!managerActive) steps.push({ kind: 'init', machine: manager.name });
  for (const w of workers) {
    // A worker's /info has no Cluster: it is in ours when the manager lists it and it names our manager.
    const inOurs =
      managerActive && w.local.state === 'active' && nodes.some((n) => n.id === w.local.nodeId) && w.local.managers.includes(manager.local.nodeId);
    if (inOurs) continue;
    if (w.local.state !== 'inactive') steps.push({ kind: 'leave', machine: w.name });
    steps.push({ kind: 'join', machine: w.name });
  }
  return steps;
}

/**
 * Entries a node left behind when it left and joined again under a new ID: they
 * would stay "down" for ever (and look "ready" for a few seconds after the leave,
 * until the manager notices). An engine has one node ID, so any other entry of
 * that machine is stale. `current` maps each machine to the node ID it has now.
 */
export function staleNodes(nodes: SwarmNode[], current: Map<string, string>): SwarmNode[] {
  return nodes.filter((n) => {
    const id = current.get(n.hostname);
    return id !== undefined && id !== '' && n.id !== id;
  });
}
