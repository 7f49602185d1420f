import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { afterAll, describe, expect, it } from 'vitest';
import { withMachineLock } from '../../src/machine/lock.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-lock2-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** What another skiff process sees: the machine's lock held and fresh (not stale, so not taken over). */
function heldFresh(name: string): Promise<boolean> {
  const lockPath = path.join(root, `.${name}.lock`);
  return lockfile.check(path.join(root, name), { lockfilePath: lockPath, realpath: false, stale: 10_000 });
}

describe('machine locks of several machines in one process (swarm up)', () => {
  it('keeps every held lock fresh past the stale threshold, so no other process takes one over', async () => {
    const crashes: unknown[] = [];
    const onCrash = (e: unknown) => crashes.push(e);
    process.on('uncaughtException', onCrash);
    try {
      let fresh: boolean[] = [];
      const hold = (name: string) =>
        withMachineLock(root, name, async () => {
          await new Promise((r) => setTimeout(r, 12_500));
        });
      const holding = Promise.all([hold('s-1'), hold('s-2'), hold('s-3')]);
      // Past the 10 s stale threshold: only a lock whose mtime kept being refreshed still counts as held.
      await new Promise((r) => setTimeout(r, 11_500));
      fresh = await Promise.all(['s-1', 's-2', 's-3'].map(heldFresh));
      await holding;
      expect(fresh).toEqual([true, true, true]);
      expect(await Promise.all(['s-1', 's-2', 's-3'].map(heldFresh))).toEqual([false, false, false]);
      expect(crashes).toEqual([]);
    } finally {
      process.off('uncaughtException', onCrash);
    }
  }, 30_000);
});
