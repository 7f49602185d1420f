import path from 'node:path';
import { networksDir } from '../network/store.js';
import { withFileLock, type LockOptions } from '../util/file-lock.js';

/**
 * Holds swarm S's lock while fn runs, so two `swarm up`s never both init the
 * manager or join the same worker: the second waits, then finds the swarm
 * healthy. The lock sits beside the network's file (networks/.S.swarm.lock,
 * which listNetworks skips).
 */
export function withSwarmLock<T>(home: string, swarm: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  return withFileLock(path.join(networksDir(home), `.${swarm}.swarm.lock`), `swarm "${swarm}"`, fn, opts);
}
