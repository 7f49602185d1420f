import { deleteMachine } from '../machine/delete.js';
import { stopMachine } from '../machine/stop.js';
import { leaveNetwork, removeNetwork } from '../network/membership.js';
import { loadNetwork } from '../network/store.js';
import { ExitCode, SkiffError } from '../errors.js';
import { findSwarm, requireFoundSwarm } from './find.js';
import { swarmMachines } from './members.js';
import { forgetSwarm, type ForgetResult } from './forget.js';

/**
 * Stops every machine of the swarm at once (a remote host's machine only lets go
 * of it); the swarm's state stays on their disks. Recorded members deleted since
 * are named in `missing`.
 */
export async function swarmDown(home: string, swarm: string): Promise<{ machines: Array<{ machine: string; wasRunning: boolean }>; missing: string[] }> {
  const found = await requireFoundSwarm(home, swarm);
  const machines = await Promise.all(found.machines.map(async (m) => ({ machine: m.name, wasRunning: (await stopMachine(m)).wasRunning })));
  return { machines, missing: found.kind === 'machines' ? found.missing : [] };
}

/** The refusal of `swarm rm` without --yes, saying what it would do to this swarm. */
export async function confirmRemove(home: string, swarm: string): Promise<SkiffError> {
  const found = await findSwarm(home, swarm).catch(() => undefined);
  if (found?.kind === 'machines') {
    return new SkiffError('confirm', `removing swarm "${swarm}" makes ${found.record.machines.join(', ')} leave it (its services go); the machines are kept`, {
      hint: 'add --yes to take the swarm apart',
      exitCode: ExitCode.usage,
    });
  }
  return new SkiffError('confirm', `deleting swarm "${swarm}" deletes all its machines and their data`, {
    hint: 'add --yes to delete them',
    exitCode: ExitCode.usage,
  });
}

export type RemoveResult = NetworkRemoveResult | ForgetResult;

/**
 * skiff's own swarm: deletes its machines and network. A swarm of existing
 * machines: they leave it and its record goes; the machines stay, they were the
 * user's before.
 */
export async function swarmRemove(home: string, swarm: string): Promise<RemoveResult> {
  // No swarm at all is still the network kind: leftovers of an interrupted `swarm up` are cleaned.
  const found = await requireFoundSwarm(home, swarm).catch((e: { code?: string }) => {
    if (e.code === 'no-swarm') return undefined;
    throw e;
  });
  if (found?.kind === 'machines') return forgetSwarm(home, swarm, found);
  return removeNetworkSwarm(home, swarm);
}

export interface NetworkRemoveResult {
  machines: string[];
  network: boolean;
}

/** Deletes every machine of the swarm (disks included), then its network. */
async function removeNetworkSwarm(home: string, swarm: string): Promise<NetworkRemoveResult> {
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
