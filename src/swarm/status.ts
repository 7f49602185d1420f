import type { VmState } from '../drivers/driver.js';
import type { Machine } from '../machine/machine.js';
import { localSwarm, managerNodes } from './converge.js';
import { requireAllMembers, requireFoundSwarm } from './find.js';
import type { SwarmRecord } from './record.js';
import type { LocalSwarm, SwarmNode } from './model.js';

export interface SwarmMemberStatus {
  machine: string;
  vm: VmState;
  address: string;
  /** What the manager says of this machine's node; absent when it is not in the swarm or the manager is down. */
  node?: Pick<SwarmNode, 'id' | 'role' | 'state' | 'availability' | 'leader'>;
  /** The machine's own view (GET /info's LocalNodeState), when its engine answers. */
  localState?: string;
}

export interface SwarmStatus {
  name: string;
  manager: string;
  managerReachable: boolean;
  /** Why the manager cannot say who is in the swarm; absent when it can. */
  managerProblem?: string;
  members: SwarmMemberStatus[];
}

/** What was read of each machine (in order, manager first) and of the manager. */
export interface SwarmReading {
  vms: VmState[];
  /** Each engine's /info, when it answered. */
  locals: Array<LocalSwarm | undefined>;
  /** The manager's /nodes; empty when it is not a serving manager. */
  nodes: SwarmNode[];
}

/** Reads the swarm's truth from the hypervisors and the engines; changes nothing. */
export async function swarmStatus(home: string, swarm: string): Promise<SwarmStatus> {
  const found = await requireFoundSwarm(home, swarm);
  if (found.kind === 'network') return statusOf(swarm, found.machines, await readSwarm(found.machines));
  const machines = requireAllMembers(swarm, found);
  return statusOf(swarm, machines, await readSwarm(machines), recordedAddress(found.record));
}

/** A recorded swarm's members have no private address: the addresses chosen when it was made. */
export function recordedAddress(record: SwarmRecord): (m: Machine) => string {
  return (m) => (m.name === record.machines[0] ? record.addresses?.manager : record.addresses?.workers[m.name]) ?? '';
}

export async function readSwarm(machines: Machine[]): Promise<SwarmReading> {
  const vms = await Promise.all(machines.map((m) => m.driver.state()));
  // /info is the ping: an engine that does not answer it is not up.
  const locals = await Promise.all(machines.map((m, i) => (vms[i] === 'running' ? localSwarm(m, 5000).catch(() => undefined) : Promise.resolve(undefined))));
  const nodes = locals[0]?.controlAvailable ? await managerNodes(machines[0]!).catch(() => [] as SwarmNode[]) : [];
  return { vms, locals, nodes };
}

/** The status of machines (manager first) from what was read of them. */
export function statusOf(swarm: string, machines: Machine[], r: SwarmReading, addressOf: (m: Machine) => string = (m) => m.config.network?.address ?? ''): SwarmStatus {
  const manager = machines[0]!;
  const mgrLocal = r.locals[0];
  const managerReachable = mgrLocal?.controlAvailable === true;
  const managerProblem = managerReachable
    ? undefined
    : r.vms[0] !== 'running'
      ? 'is not running'
      : !mgrLocal
        ? 'runs, but its Docker engine does not answer'
        : `is not a manager (swarm ${mgrLocal.state})`;
  return {
    name: swarm,
    manager: manager.name,
    managerReachable,
    ...(managerProblem ? { managerProblem } : {}),
    members: machines.map((m, i) => {
      const local = r.locals[i];
      // Match by the node ID the machine reports; a stopped machine by its hostname (its entry stays).
      const n = r.nodes.find((x) => (local?.nodeId ? x.id === local.nodeId : x.hostname === m.name));
      return {
        machine: m.name,
        vm: r.vms[i]!,
        address: addressOf(m) || (n?.address ?? ''),
        ...(n ? { node: { id: n.id, role: n.role, state: n.state, availability: n.availability, leader: n.leader } } : {}),
        ...(local ? { localState: local.state } : {}),
      };
    }),
  };
}

/** The table `skiff swarm status` prints. */
export function renderSwarmStatus(s: SwarmStatus): string {
  const rows = [['MACHINE', 'VM', 'ROLE', 'STATE', 'AVAILABILITY', 'ADDRESS']];
  for (const m of s.members) {
    const role = m.node ? m.node.role + (m.node.leader ? ' (leader)' : '') : '-';
    rows.push([m.machine, m.vm, role, m.node?.state ?? m.localState ?? '-', m.node?.availability ?? '-', m.address]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) => r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c]!))).join('  '));
  if (!s.managerReachable) {
    lines.push(`(the manager ${s.manager} ${s.managerProblem ?? 'is not running'}: roles and node states are unknown; \`skiff swarm up --name ${s.name}\`)`);
  }
  return lines.join('\n');
}
