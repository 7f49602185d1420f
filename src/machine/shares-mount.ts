import type { Share, SshEndpoint } from '../drivers/driver.js';
import { SkiffError } from '../errors.js';
import { connectSsh } from '../ssh/connect.js';
import { machineSshTarget } from './ssh-target.js';
import { execCollect } from '../ssh/exec.js';
import type { Machine } from './machine.js';
import { sharesFor } from './machine.js';
import { shQuote } from '../util/sh-quote.js';
import { shareMountFor, type ShareMount } from './shares.js';

export { NINEP_MOUNT, VIRTIOFS_MOUNT, shareMountFor } from './shares.js';

/**
 * virtiofs devices may still be binding in the guest right after they were
 * plugged in (a resume): wait, up to 10 s, until the driver has as many as there
 * are shares, so the mounts do not fail on a tag not there yet.
 */
export function virtiofsWaitCommand(count: number): string {
  return `modprobe virtiofs 2>/dev/null; n=0; while [ "$(ls -d /sys/bus/virtio/drivers/virtiofs/virtio* 2>/dev/null | wc -l)" -lt ${count} ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done`;
}

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
  const wait = how.fs === 'virtiofs' && shares.length > 0 ? [virtiofsWaitCommand(shares.length)] : [];
  return [MOUNTED_FN, ...wait, ...lines, ...check, 'true'].join('\n');
}

/** Mounts the shares over SSH; returns the guest paths that could not be mounted. */
export async function mountShares(m: Machine, ssh: SshEndpoint): Promise<string[]> {
  const shares = sharesFor(m.config);
  if (shares.length === 0) return [];
  // If the devices cannot come back, the mounts below fail and name the shares: that is the report.
  await m.driver.sharesReady?.().catch(() => undefined);
  const { shareFs } = await m.driver.info().catch(() => ({ shareFs: undefined }));
  const conn = await connectSsh(await machineSshTarget(m, ssh));
  try {
    const r = await execCollect(conn.client, mountSharesCommand(shares, shareMountFor(m.config.driver, shareFs)));
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
