import { ExitCode, SkiffError } from '../errors.js';
import { Machine } from '../machine/machine.js';
import { listNetworks, validateNetworkName } from '../network/store.js';
import { swarmMachines } from './members.js';
import { listSwarmRecords, loadSwarmRecord, swarmsDir, type SwarmRecord } from './record.js';

/**
 * A swarm is either made by skiff (machines S-1..S-N on network S) or made of
 * machines that existed before it (recorded in swarms/S.yaml): every swarm
 * command starts by telling which.
 */
export type FoundSwarm =
  | { kind: 'network'; machines: Machine[] }
  | {
      kind: 'machines';
      record: SwarmRecord;
      /** The recorded members that exist, in the record's order (manager first). */
      machines: Machine[];
      /** Recorded members deleted since. */
      missing: string[];
    };

export async function findSwarm(home: string, swarm: string): Promise<FoundSwarm | undefined> {
  validateNetworkName(swarm);
  const [record, onNetwork] = await Promise.all([loadSwarmRecord(home, swarm), swarmMachines(home, swarm)]);
  if (record && onNetwork.length > 0) throw ambiguous(home, swarm, onNetwork, record);
  if (!record) return onNetwork.length > 0 ? { kind: 'network', machines: onNetwork } : undefined;
  const found = await Promise.all(record.machines.map((n) => Machine.find(home, n)));
  return {
    kind: 'machines',
    record,
    machines: found.filter((m): m is Machine => m !== undefined),
    missing: record.machines.filter((_, i) => !found[i]),
  };
}

/** findSwarm, where no such swarm is an error that names the swarms there are. */
export async function requireFoundSwarm(home: string, swarm: string): Promise<FoundSwarm> {
  const found = await findSwarm(home, swarm);
  if (found) return found;
  const known = [...(await listNetworks(home)).map((n) => n.name), ...(await listSwarmRecords(home)).map((r) => r.name)];
  throw new SkiffError('no-swarm', `there is no swarm "${swarm}"`, {
    hint: known.length ? `known networks and swarms: ${[...new Set(known)].sort().join(', ')}; give --name` : 'create one with `skiff swarm up`',
    exitCode: ExitCode.notFound,
  });
}

/** A recorded swarm whose members must all exist (up, status). */
export function requireAllMembers(swarm: string, found: Extract<FoundSwarm, { kind: 'machines' }>): Machine[] {
  if (found.missing.length > 0) {
    const which = found.missing.map((n) => `"${n}"`).join(', ');
    throw new SkiffError('swarm-member-missing', `swarm "${swarm}" names machine${found.missing.length > 1 ? 's' : ''} ${which}, which no longer exist${found.missing.length > 1 ? '' : 's'}`, {
      hint: `forget the swarm with \`skiff swarm rm --yes --name ${swarm}\` (its other machines are kept), then \`skiff swarm up --name ${swarm} --machines ...\` with the ones there are`,
      exitCode: ExitCode.notFound,
    });
  }
  return found.machines;
}

function ambiguous(home: string, swarm: string, onNetwork: Machine[], record: SwarmRecord): SkiffError {
  return new SkiffError(
    'swarm-ambiguous',
    `"${swarm}" names two swarms: the machines on network "${swarm}" (${onNetwork.map((m) => m.name).join(', ')}) and one of existing machines (${record.machines.join(', ')})`,
    {
      hint: `skiff cannot tell which you mean: delete the record ${swarmsDir(home)}/${swarm}.yaml (its machines are kept), or the machines on network "${swarm}"`,
      exitCode: ExitCode.conflict,
    },
  );
}
