import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkRuntimeParents } from '../../src/layout/runtime-dir.js';

/**
 * The sockets' runtime dir often sits in a shared /tmp: a parent another user made
 * first (or can write to) is refused before any socket is created in it.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-rtdir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function runDirUnder(parent: string): string {
  return path.join(parent, 'homekey', 'default');
}

describe('runtime dir parents', () => {
  it('accepts dirs that are ours and closed to others, and ones not made yet', async () => {
    const ok = path.join(root, 'ok');
    mkdirSync(path.join(ok, 'homekey'), { recursive: true, mode: 0o700 });
    chmodSync(ok, 0o755);
    await expect(checkRuntimeParents(runDirUnder(ok))).resolves.toBeUndefined();
    await expect(checkRuntimeParents(runDirUnder(path.join(root, 'not-yet')))).resolves.toBeUndefined();
  });

  it('stops at a sticky world-writable dir such as /tmp', async () => {
    const sticky = path.join(root, 'sticky');
    mkdirSync(path.join(sticky, 'homekey'), { recursive: true, mode: 0o700 });
    chmodSync(sticky, 0o1777);
    await expect(checkRuntimeParents(runDirUnder(sticky))).resolves.toBeUndefined();
  });

  it('refuses a parent others can write to', async () => {
    const open = path.join(root, 'open');
    mkdirSync(path.join(open, 'homekey'), { recursive: true });
    chmodSync(path.join(open, 'homekey'), 0o777);
    await expect(checkRuntimeParents(runDirUnder(open))).rejects.toThrow(/runtime dir .*homekey is unsafe for skiff's sockets: others can write to it/);
  });

  it('refuses a symbolic link planted where the dir should be', async () => {
    const linked = path.join(root, 'linked');
    mkdirSync(path.join(root, 'elsewhere'), { mode: 0o700 });
    mkdirSync(linked, { mode: 0o700 });
    symlinkSync(path.join(root, 'elsewhere'), path.join(linked, 'homekey'));
    await expect(checkRuntimeParents(runDirUnder(linked))).rejects.toThrow(/is a symbolic link/);
  });

  it("refuses a dir that belongs to another user", async () => {
    const theirs = path.join(root, 'theirs');
    mkdirSync(path.join(theirs, 'homekey'), { recursive: true, mode: 0o700 });
    const me = process.getuid!();
    if (me === 0) {
      // As root, make it really someone else's.
      chownSync(path.join(theirs, 'homekey'), 4242, 4242);
      await expect(checkRuntimeParents(runDirUnder(theirs), 1000)).rejects.toThrow(/belongs to uid 4242/);
    } else {
      await expect(checkRuntimeParents(runDirUnder(theirs), me + 1)).rejects.toThrow(new RegExp(`belongs to uid ${me}`));
    }
  });
});
