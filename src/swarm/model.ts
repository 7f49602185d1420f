import { ExitCode, SkiffError } from '../errors.js';
import { sleep as defaultSleep } from '../util/wait.js';

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
  /** The engine's host name (GET /info's Name): what the manager's /nodes lists it under. */
  hostname?: string;
}

export function localSwarmOf(info: unknown): LocalSwarm {
  const name = (info as { Name?: unknown }).Name;
  const s =
    (info as { Swarm?: { LocalNodeState?: string; NodeID?: string; ControlAvailable?: boolean; Cluster?: { ID?: string }; RemoteManagers?: Array<{ NodeID?: string }> | null } })
      .Swarm ?? {};
  return {
    state: s.LocalNodeState ?? 'inactive',
    nodeId: s.NodeID ?? '',
    controlAvailable: s.ControlAvailable ?? false,
    ...(s.Cluster?.ID ? { clusterId: s.Cluster.ID } : {}),
    managers: (s.RemoteManagers ?? []).map((m) => m.NodeID ?? '').filter((id) => id !== ''),
    ...(typeof name === 'string' && name !== '' ? { hostname: name } : {}),
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

/** A node still coming up: dockerd answers /info before its swarm is back after a reboot. */
export function isPending(local: LocalSwarm): boolean {
  return local.state === 'pending';
}

/**
 * A node skiff must not touch: a locked node needs the user's unlock key, an
 * error is the user's to look at, and a node still pending after converge's wait
 * is left to time; making it leave would throw away the swarm and its services.
 */
function refuse(machine: string, local: LocalSwarm, swarm: string, isManager: boolean): SkiffError | undefined {
  if (local.state === 'locked') {
    return new SkiffError('swarm-locked', `${machine}: the swarm is locked (autolock) and needs its unlock key`, {
      hint: `eval "$(skiff shellinit -m ${machine})" && docker swarm unlock, then \`skiff swarm up --name ${swarm}\` again`,
      exitCode: ExitCode.conflict,
    });
  }
  if (local.state === 'error') {
    return new SkiffError('swarm-error', `${machine}: its swarm is in state "error"`, {
      hint: `see \`skiff ssh -m ${machine} -- tail /var/log/dockerd.log\`; to start over: \`skiff swarm rm --yes --name ${swarm}\``,
      exitCode: ExitCode.conflict,
    });
  }
  if (local.state === 'pending') {
    return new SkiffError('swarm-pending', `${machine}: its swarm is still starting (state "pending")`, {
      hint: isManager
        ? `wait a minute and run \`skiff swarm up --name ${swarm}\` again; see \`skiff ssh -m ${machine} -- tail /var/log/dockerd.log\``
        : `wait a minute and run \`skiff swarm up --name ${swarm}\` again; if it stays pending: \`skiff ssh -m ${machine} -- docker swarm leave --force\`, then swarm up`,
      exitCode: ExitCode.conflict,
    });
  }
  return undefined;
}

/**
 * What it takes to make `manager` the manager and every worker a member of its
 * swarm. Pure, so every case is unit-tested. A worker that is in another swarm
 * (or in ours while the manager has none) leaves first. A manager that belongs to
 * a swarm (it reports a Cluster ID) never leaves: a node that is pending, locked or
 * in error throws a SkiffError instead (converge waits out "pending" first).
 */
export function planSwarm(
  manager: { name: string; local: LocalSwarm },
  workers: Array<{ name: string; local: LocalSwarm }>,
  nodes: SwarmNode[],
  swarm = manager.name.replace(/-1$/, ''),
): SwarmStep[] {
  for (const n of [manager, ...workers]) {
    const e = refuse(n.name, n.local, swarm, n === manager);
    if (e) throw e;
  }
  const steps: SwarmStep[] = [];
  const managerActive = manager.local.state === 'active' && manager.local.controlAvailable;
  if (!managerActive && manager.local.clusterId !== undefined) {
    // A manager of a swarm that has lost its quorum or is not serving yet: leaving would destroy the swarm.
    throw new SkiffError('swarm-manager-unavailable', `${manager.name} is a manager of a swarm that is not available (state "${manager.local.state}")`, {
      hint: `wait a minute and run \`skiff swarm up --name ${swarm}\` again; to start over: \`skiff swarm rm --yes --name ${swarm}\``,
      exitCode: ExitCode.conflict,
    });
  }
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
 * Reads every node's /info again while any is "pending" (a node whose dockerd is
 * up but whose swarm is still starting after a boot), for at most timeoutMs.
 * Returns the last reading; planSwarm refuses what is still pending.
 */
export async function waitWhilePending(
  read: () => Promise<LocalSwarm[]>,
  first: LocalSwarm[],
  timeoutMs: number,
  onWait: (locals: LocalSwarm[]) => void,
  sleep: (ms: number) => Promise<void> = defaultSleep,
  now: () => number = Date.now,
): Promise<LocalSwarm[]> {
  let locals = first;
  const deadline = now() + timeoutMs;
  let said = false;
  while (locals.some(isPending) && now() < deadline) {
    if (!said) onWait(locals);
    said = true;
    await sleep(1000);
    locals = await read();
  }
  return locals;
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
