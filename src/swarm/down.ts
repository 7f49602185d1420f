import { deleteMachine } from '../machine/delete.js';
import { stopMachine } from '../machine/stop.js';
import { leaveNetwork, removeNetwork } from '../network/membership.js';
import { loadNetwork } from '../network/store.js';
import { requireSwarm, swarmMachines } from './members.js';

/** Stops every machine of the swarm at once; the swarm's state stays on their disks. */
export async function swarmDown(home: string, swarm: string): Promise<Array<{ machine: string; wasRunning: boolean }>> {
  const machines = await requireSwarm(home, swarm);
  return Promise.all(machines.map(async (m) => ({ machine: m.name, wasRunning: (await stopMachine(m)).wasRunning })));
}

/** Deletes every machine of the swarm (disks included), then its network. */
export async function swarmRemove(home: string, swarm: string): Promise<{ machines: string[]; network: boolean }> {
  const machines = await swarmMachines(home, swarm);
  const existed = (await loadNetwork(home, swarm)) !== undefined;
  await Promise.all(machines.map((m) => deleteMachine(m)));
  // An address held by an interrupted init has no machine: free it on this network only
  // (a machine of that name may exist on another one).
  for (const name of Object.keys((await loadNetwork(home, swarm))?.members ?? {})) await leaveNetwork(home, swarm, name);
  // Freeing the last address removed the file; removeNetwork covers a file left with no members.
  const removed = await removeNetwork(home, swarm);
  return { machines: machines.map((m) => m.name), network: existed || removed };
}
