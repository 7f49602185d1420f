import { ExitCode, SkiffError } from '../errors.js';
import type { Machine } from '../machine/machine.js';
import { localSwarm } from './converge.js';
import { engineOk } from './engine-api.js';
import type { FoundSwarm } from './find.js';
import { withSwarmLock } from './lock.js';
import { removeSwarmRecord } from './record.js';
import { look } from './up.js';

export interface ForgetResult {
  name: string;
  /** Members that left the swarm (workers first, the manager last). */
  left: string[];
  /** Members that were in no swarm any more. */
  notInSwarm: string[];
  /** Recorded members deleted since. */
  missing: string[];
  /** Every existing member: `swarm rm` never deletes a machine it did not create. */
  kept: string[];
}

/**
 * Takes a swarm of existing machines apart: each member leaves it through its
 * own engine, then the record goes. A member whose engine does not answer
 * stops it before anything changes: it would stay in a swarm nobody records.
 */
export async function forgetSwarm(home: string, swarm: string, found: Extract<FoundSwarm, { kind: 'machines' }>): Promise<ForgetResult> {
  const looks = await Promise.all(found.machines.map(look));
  const down = found.machines.filter((_, i) => !looks[i]!.serving).map((m) => m.name);
  if (down.length > 0) {
    throw new SkiffError('swarm-member-down', `${down.join(', ')} of swarm "${swarm}" ${down.length > 1 ? 'are' : 'is'} not serving, so cannot leave the swarm`, {
      hint: `start ${down.length > 1 ? 'them' : 'it'} first (\`skiff swarm up --name ${swarm}\` or \`skiff start -m ${down[0]}\`), or delete ${down.length > 1 ? 'them' : 'it'}; then swarm rm again`,
      exitCode: ExitCode.conflict,
    });
  }
  return withSwarmLock(home, swarm, async () => {
    const [manager, ...workers] = found.machines;
    const left: string[] = [];
    const notInSwarm: string[] = [];
    // The manager last: workers that leave after it would wait for a manager that is gone.
    for (const m of [...workers, ...(manager ? [manager] : [])]) {
      if ((await leave(m)) === 'left') left.push(m.name);
      else notInSwarm.push(m.name);
    }
    await removeSwarmRecord(home, swarm);
    return { name: swarm, left, notInSwarm, missing: found.missing, kept: found.machines.map((m) => m.name) };
  });
}

async function leave(m: Machine): Promise<'left' | 'not-in-swarm'> {
  if ((await localSwarm(m)).state === 'inactive') return 'not-in-swarm';
  await engineOk(m.paths.dockerSocket, m.name, 'POST', '/swarm/leave?force=true');
  return 'left';
}
