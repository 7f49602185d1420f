import type { Share, SshEndpoint } from '../drivers/driver.js';
import { SkiffError } from '../errors.js';
import { connectSsh } from '../ssh/connect.js';
import { machineSshTarget } from './ssh-target.js';
import { execCollect } from '../ssh/exec.js';
import type { Machine } from './machine.js';
import { sharesFor } from './machine.js';
import { shQuote } from '../util/sh-quote.js';
import { shareMountFor, type ShareMount } from './shares.js';

export { NINEP_MOUNT, shareMountFor } from './shares.js';

/**
 * A mount point sits on another device than its parent. (The guest's busybox has
 * no `mountpoint`; a missing path gives two empty strings: not mounted.)
 */
export const MOUNTED_FN = 'mounted() { [ "$(stat -c %d "$1" 2>/dev/null)" != "$(stat -c %d "$1/.." 2>/dev/null)" ]; }';

/**
 * The guest command that mounts the machine's shares: each one not mounted yet is
 * handed to the guest's mount script, every value its own shell-quoted argument
 * (so no path is ever split on spaces or colons). Parents mount before the shares
 * inside them. The last line prints the index of each share still not mounted.
 * Done from the host at every start, so a share added to the config after the
 * disk was seeded is mounted too.
 */
export function mountSharesCommand(shares: Share[], how: ShareMount): string {
  const depth = (p: string) => p.split('/').filter(Boolean).length;
  const ordered = [...shares].sort((a, b) => depth(a.guestPath) - depth(b.guestPath));
  const lines = ordered.map((s) => {
    const args = [how.fs, s.tag, s.readOnly ? 'ro' : 'rw', s.guestPath, ...(how.options ? [how.options] : [])];
    return `mounted ${shQuote(s.guestPath)} || /usr/lib/skiff/shares ${args.map(shQuote).join(' ')}`;
  });
  const check = shares.map((s, i) => `mounted ${shQuote(s.guestPath)} || echo ${i}`);
  return [MOUNTED_FN, ...lines, ...check, 'true'].join('\n');
}

/** Mounts the shares over SSH; returns the guest paths that could not be mounted. */
export async function mountShares(m: Machine, ssh: SshEndpoint): Promise<string[]> {
  const shares = sharesFor(m.config);
  if (shares.length === 0) return [];
  const conn = await connectSsh(await machineSshTarget(m, ssh));
  try {
    const r = await execCollect(conn.client, mountSharesCommand(shares, shareMountFor(m.config.driver)));
    if (r.code !== 0) {
      throw new SkiffError('shares-failed', `mounting shared folders failed in the guest: ${r.stderr.toString().trim().split('\n')[0] ?? `exit ${r.code}`}`, {
        hint: 'see `skiff logs --console`; fix or remove the shares in the machine config',
      });
    }
    return r.stdout
      .toString()
      .split('\n')
      .filter((l) => /^\d+$/.test(l))
      .map((i) => shares[Number(i)]!.guestPath);
  } finally {
    conn.client.end();
  }
}
