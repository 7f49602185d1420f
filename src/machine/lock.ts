import path from 'node:path';
import { withFileLock, type LockOptions } from '../util/file-lock.js';

export type { LockOptions };

/** Holds machine NAME's lock (machines/.NAME.lock) while fn runs. */
export function withMachineLock<T>(machinesDir: string, name: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  return withFileLock(path.join(machinesDir, `.${name}.lock`), `machine "${name}"`, fn, opts);
}
