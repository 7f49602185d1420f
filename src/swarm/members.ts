import { ExitCode, SkiffError } from '../errors.js';
import { Machine } from '../machine/machine.js';
import { validateMachineName } from '../machine/paths.js';
import { listNetworks, loadNetwork, validateNetworkName } from '../network/store.js';

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

export function managerName(swarm: string): string {
  return `${swarm}-1`;
}

/** The machines on network S, manager first (by node number), loaded. */
export async function swarmMachines(home: string, swarm: string): Promise<Machine[]> {
  validateNetworkName(swarm);
  const net = await loadNetwork(home, swarm);
  if (!net) return [];
  const names = Object.keys(net.members).sort((a, b) => nodeNumber(swarm, a) - nodeNumber(swarm, b) || a.localeCompare(b));
  const machines: Machine[] = [];
  for (const n of names) {
    try {
      machines.push(await Machine.load(home, n));
    } catch (e) {
      // An address held by an interrupted init: no machine behind it.
      if ((e as { code?: string }).code !== 'no-machine') throw e;
    }
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
