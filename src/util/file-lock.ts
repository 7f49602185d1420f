import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { ExitCode, SkiffError } from '../errors.js';
import { sleep } from './wait.js';

export interface LockOptions {
  /** How long to wait for another skiff command holding the lock (e.g. a `start` mid-boot). */
  waitMs?: number;
  /** Called once when the lock is busy and we start waiting. */
  onWait?: () => void;
}

/**
 * Holds the lock file `lockfilePath` while fn runs; `what` names the locked
 * thing in the busy error ("machine \"dev\""). proper-lockfile keeps the lock's
 * mtime fresh while held, so a lock left by a crashed process goes stale after
 * a few seconds and is taken over instead of blocking every later command.
 */
export async function withFileLock<T>(lockfilePath: string, what: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  await mkdir(path.dirname(lockfilePath), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + (opts.waitMs ?? 10 * 60_000);
  let waited = false;
  let release: () => Promise<void>;
  for (;;) {
    try {
      // proper-lockfile keeps its in-process state under the first argument, so it must
      // differ per lock: two locks held at once by one process (swarm up holds several
      // machines') would otherwise overwrite each other's state and its mtime updater
      // crashes on release. The lock file's own path is unique.
      release = await lockfile.lock(lockfilePath, {
        lockfilePath,
        realpath: false,
        stale: 10_000,
        update: 2_000,
        // A compromised lock (mtime not refreshed, e.g. after host sleep) must not crash
        // the command midway; the work under it is itself crash-safe.
        onCompromised: () => {},
      });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw e;
      if (Date.now() > deadline) {
        throw new SkiffError('locked', `${what} is busy with another skiff command`, {
          hint: 'wait for it to finish, then try again',
          exitCode: ExitCode.conflict,
        });
      }
      if (!waited) {
        waited = true;
        opts.onWait?.();
      }
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => {});
  }
}
