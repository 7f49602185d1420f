import { readdir } from 'node:fs/promises';
import { ExitCode, SkiffError } from '../errors.js';
import { Machine } from '../machine/machine.js';
import { machinesDir, validateMachineName } from '../layout/paths.js';
import { listNetworks, loadNetwork, validateNetworkName } from '../network/store.js';
import { SWARM_PORT } from './addresses.js';
import type { SwarmAddresses } from './converge.js';

export const MAX_NODES = 16;

/** Swarm S is machines S-1 ... S-N on network S; S-1 is the manager. */
export function nodeNames(swarm: string, nodes: number): string[] {
  validateNetworkName(swarm);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_NODES) {
    throw new SkiffError('invalid-nodes', `--nodes must be a whole number from 1 to ${MAX_NODES}, not ${nodes}`, {
      hint: 'e.g. --nodes 3',
      exitCode: ExitCode.usage,
    });
  }
  return Array.from({ length: nodes }, (_, i) => validateMachineName(`${swarm}-${i + 1}`));
}

/**
 * How many nodes `swarm up` makes: --nodes when given, else as many as the swarm
 * has (its highest S-k among the network's members and the machines named S-k),
 * 2 for a new swarm. A swarm does not shrink: fewer than it has is refused rather
 * than leaving nodes skiff no longer counts.
 */
export function nodeCountFor(swarm: string, requested: number | undefined, existing: number): number {
  if (requested === undefined) return existing > 0 ? existing : 2;
  if (Number.isInteger(requested) && requested >= 1 && requested < existing) {
    const dropped = requested + 1 === existing ? `${swarm}-${existing}` : `${swarm}-${requested + 1}..${swarm}-${existing}`;
    throw new SkiffError('swarm-shrink', `swarm "${swarm}" has ${existing} nodes; --nodes ${requested} would leave out ${dropped}`, {
      hint: `leave out --nodes (or give ${existing} or more); to make it smaller, delete its last nodes with \`skiff delete -y -m ${swarm}-${existing}\``,
      exitCode: ExitCode.usage,
    });
  }
  return requested;
}

/** The highest k of S-k among network S's members and the machines that exist; 0 when none. */
export async function existingNodeCount(home: string, swarm: string): Promise<number> {
  const net = await loadNetwork(home, swarm);
  let dirs: string[] = [];
  try {
    dirs = (await readdir(machinesDir(home), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const numbers = [...Object.keys(net?.members ?? {}), ...dirs].map((n) => nodeNumber(swarm, n)).filter((k) => k !== Number.MAX_SAFE_INTEGER);
  return Math.max(0, ...numbers);
}

/** The machines on network S, manager first (by node number), loaded. */
export async function swarmMachines(home: string, swarm: string): Promise<Machine[]> {
  validateNetworkName(swarm);
  const net = await loadNetwork(home, swarm);
  if (!net) return [];
  const names = Object.keys(net.members).sort((a, b) => nodeNumber(swarm, a) - nodeNumber(swarm, b) || a.localeCompare(b));
  const machines: Machine[] = [];
  for (const n of names) {
    // None behind an address held by an interrupted init.
    const m = await Machine.find(home, n);
    if (m) machines.push(m);
  }
  return machines;
}

function nodeNumber(swarm: string, machine: string): number {
  const m = new RegExp(`^${swarm}-(\\d+)$`).exec(machine);
  return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}

export async function requireSwarm(home: string, swarm: string): Promise<Machine[]> {
  const ms = await swarmMachines(home, swarm);
  if (ms.length === 0) {
    const others = (await listNetworks(home)).map((n) => n.name);
    throw new SkiffError('no-swarm', `there is no swarm "${swarm}"`, {
      hint: others.length ? `known networks: ${others.join(', ')}; give --name` : 'create one with `skiff swarm up`',
      exitCode: ExitCode.notFound,
    });
  }
  return ms;
}

/** The machine's address on its private network (where Swarm listens and advertises). */
export function privateAddress(m: Machine): string {
  const a = m.config.network?.address;
  if (!a) {
    throw new SkiffError('no-network', `machine "${m.name}" is not on a private network`, {
      hint: 'swarm nodes are made by `skiff swarm up`; delete this machine or choose another --name',
      exitCode: ExitCode.conflict,
    });
  }
  return a;
}

/** A network-made swarm's addresses: each node listens and advertises on its private address. */
export function privateAddresses(manager: Machine, workers: Machine[]): SwarmAddresses {
  const at = (m: Machine) => {
    const a = privateAddress(m);
    return { advertise: a, listen: `${a}:${SWARM_PORT}` };
  };
  return { manager: at(manager), workers: Object.fromEntries(workers.map((w) => [w.name, at(w)])) };
}
