import type { SshEndpoint } from '../drivers/driver.js';
import { connectSsh } from '../ssh/connect.js';
import { execCollect } from '../ssh/exec.js';
import type { Machine } from './machine.js';
import { machineSshTarget } from './ssh-target.js';

/** Where the guest mounts its data disk (iso/guest/rootfs/usr/lib/skiff/disk): images, containers, volumes. */
export const GUEST_DATA_MOUNT = '/mnt/data';

export interface DiskUse {
  usedBytes: number;
  sizeBytes: number;
  /** What the engine may still write (ext4 keeps a reserve that root, and so dockerd, may fill too). */
  availableBytes: number;
}

/** Reads POSIX `df -Pk` output (busybox and coreutils print the same columns). */
export function parseDfPk(text: string): DiskUse | undefined {
  const row = text.trim().split('\n').at(-1)?.trim().split(/\s+/);
  if (!row || row.length < 6) return undefined;
  const [size, used, avail] = row.slice(1, 4).map(Number);
  if (![size, used, avail].every((n) => Number.isFinite(n))) return undefined;
  return { sizeBytes: size! * 1024, usedBytes: used! * 1024, availableBytes: avail! * 1024 };
}

/** The data disk's use, asked over SSH; undefined when the guest does not answer within timeoutMs. */
export async function guestDiskUse(m: Machine, ssh: SshEndpoint, timeoutMs = 5_000): Promise<DiskUse | undefined> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const conn = await connectSsh(await machineSshTarget(m, ssh), { readyTimeoutMs: timeoutMs, signal: ac.signal });
    try {
      const r = await Promise.race([
        execCollect(conn.client, `df -Pk ${GUEST_DATA_MOUNT}`),
        new Promise<undefined>((resolve) => ac.signal.addEventListener('abort', () => resolve(undefined))),
      ]);
      return r && r.code === 0 ? parseDfPk(r.stdout.toString()) : undefined;
    } finally {
      conn.client.end();
    }
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Full for a user: what is left cannot hold a layer or a log (ext4 keeps a few
 * KiB free even after root has used its reserve).
 */
export function isFull(d: DiskUse): boolean {
  return d.availableBytes < Math.max(16 * 2 ** 20, d.sizeBytes / 100);
}
