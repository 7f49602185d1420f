import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { ExitCode, SkiffError } from '../errors.js';
import { networksDir } from '../network/store.js';

/**
 * Holds swarm S's lock while fn runs, so two `swarm up`s never both init the
 * manager or join the same worker: the second waits, then finds the swarm
 * healthy. proper-lockfile refreshes the lock while held; a crashed holder's
 * lock goes stale after 10 s. The lock sits beside the network's file
 * (networks/.S.swarm.lock, which listNetworks skips).
 */
export async function withSwarmLock<T>(home: string, swarm: string, fn: () => Promise<T>, opts: { waitMs?: number; onWait?: () => void } = {}): Promise<T> {
  const dir = networksDir(home);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const deadline = Date.now() + (opts.waitMs ?? 10 * 60_000);
  let waited = false;
  let release: () => Promise<void>;
  for (;;) {
    try {
      // The first argument keys proper-lockfile's in-process state: one per swarm.
      release = await lockfile.lock(path.join(dir, `.${swarm}.swarm`), {
        lockfilePath: path.join(dir, `.${swarm}.swarm.lock`),
        realpath: false,
        stale: 10_000,
        update: 2_000,
        onCompromised: () => {},
      });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw e;
      if (Date.now() > deadline) {
        throw new SkiffError('locked', `swarm "${swarm}" is busy with another skiff command`, {
          hint: 'wait for it to finish, then try again',
          exitCode: ExitCode.conflict,
        });
      }
      if (!waited) opts.onWait?.();
      waited = true;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => {});
  }
}
