import type { SshEndpoint } from '../drivers/driver.js';
import { SkiffError } from '../errors.js';
import { connectSsh } from '../ssh/connect.js';
import { machineSshTarget } from './ssh-target.js';
import { execCollect } from '../ssh/exec.js';
import type { Machine } from './machine.js';
import { sharesFor } from './machine.js';
import { shQuote } from '../util/sh-quote.js';

/**
 * The guest command that mounts the machine's shares: each one not mounted yet is
 * handed to the guest's own mount script (9p under QEMU, vboxsf under VirtualBox).
 * Done from the host at every start, so a share added to the config after the
 * disk was seeded is mounted too.
 */
export function mountSharesCommand(shares: ReturnType<typeof sharesFor>): string {
  return shares
    .map((s) => {
      const spec = `${s.tag}:${s.guestPath}${s.readOnly ? ':ro' : ''}`;
      return `mountpoint -q ${shQuote(s.guestPath)} || /usr/lib/skiff/shares ${shQuote(spec)}`;
    })
    .concat(shares.length ? [`for p in ${shares.map((s) => shQuote(s.guestPath)).join(' ')}; do mountpoint -q "$p" || echo "$p"; done`] : [])
    .join('\n');
}

/** Mounts the shares over SSH; returns the guest paths that could not be mounted. */
export async function mountShares(m: Machine, ssh: SshEndpoint): Promise<string[]> {
  const shares = sharesFor(m.config);
  if (shares.length === 0) return [];
  const conn = await connectSsh(await machineSshTarget(m, ssh));
  try {
    const r = await execCollect(conn.client, mountSharesCommand(shares));
    if (r.code !== 0) {
      throw new SkiffError('shares-failed', `mounting shared folders failed in the guest: ${r.stderr.toString().trim().split('\n')[0] ?? `exit ${r.code}`}`, {
        hint: 'see `skiff logs --console`; fix or remove the shares in the machine config',
      });
    }
    return r.stdout.toString().split('\n').filter(Boolean);
  } finally {
    conn.client.end();
  }
}
