import type { VmState } from '../drivers/driver.js';
import { enginePing } from '../machine/engine.js';
import { localSwarm, managerNodes } from './converge.js';
import { requireSwarm } from './members.js';
import type { SwarmNode } from './model.js';

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
  members: SwarmMemberStatus[];
}

/** Reads the swarm's truth from the hypervisors and the engines; changes nothing. */
export async function swarmStatus(home: string, swarm: string): Promise<SwarmStatus> {
  const machines = await requireSwarm(home, swarm);
  const manager = machines[0]!;
  const vms = await Promise.all(machines.map((m) => m.driver.state()));
  const up = await Promise.all(machines.map((m, i) => (vms[i] === 'running' ? enginePing(m.paths.dockerSocket) : Promise.resolve(false))));
  const locals = await Promise.all(machines.map((m, i) => (up[i] ? localSwarm(m).catch(() => undefined) : Promise.resolve(undefined))));
  const managerReachable = up[0]! && locals[0]?.controlAvailable === true;
  const nodes = managerReachable ? await managerNodes(manager).catch(() => [] as SwarmNode[]) : [];
  return {
    name: swarm,
    manager: manager.name,
    managerReachable,
    members: machines.map((m, i) => {
      const local = locals[i];
      // Match by the node ID the machine reports; a stopped machine by its hostname (its entry stays).
      const n = nodes.find((x) => (local?.nodeId ? x.id === local.nodeId : x.hostname === m.name));
      return {
        machine: m.name,
        vm: vms[i]!,
        address: m.config.network?.address ?? '',
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
  if (!s.managerReachable) lines.push(`(the manager ${s.manager} is not running: roles and node states are unknown; \`skiff swarm up --name ${s.name}\`)`);
  return lines.join('\n');
}
