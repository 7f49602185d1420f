import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, SkiffError } from '../errors.js';
import type { MachineConfig, UserSettings } from './config.js';

type ShareEntry = MachineConfig['shares'][number];

/**
 * Guest paths a share must not cover: the guest's own system and state (root's
 * home holds the authorized_keys skiff logs in with; /mnt/data is the data disk).
 */
const RESERVED_GUEST_PATHS = ['/', '/bin', '/dev', '/etc', '/lib', '/lib64', '/media', '/mnt', '/mnt/data', '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var'];

/** Paths reserved as a whole tree, except these few that are reserved only themselves. */
const RESERVED_EXACTLY = new Set(['/', '/media', '/mnt', '/opt', '/srv', '/tmp']);

export function isReservedGuestPath(p: string): boolean {
  const n = path.posix.normalize(p).replace(/\/+$/, '') || '/';
  return RESERVED_GUEST_PATHS.some((r) => n === r || (!RESERVED_EXACTLY.has(r) && n.startsWith(r + '/')));
}

/** The default share: the user's home at the same path, unless the guest needs that path itself (root's /root). */
export function defaultShares(home: string | undefined): ShareEntry[] {
  return home && !isReservedGuestPath(home) ? [{ hostPath: home, guestPath: home, readOnly: false }] : [];
}

/**
 * Shares come as objects (YAML) or as "HOST[:GUEST][:ro]" strings (flags);
 * `false` means none. Relative host paths are not accepted: the guest mounts
 * them at boot, long after the shell that named them is gone.
 */
export function resolveShares(input: UserSettings['shares'], defaults: ShareEntry[]): ShareEntry[] {
  if (input === undefined) return defaults;
  if (input === false) return [];
  return input.map((s) => {
    if (typeof s !== 'string') return s;
    const parts = s.split(':');
    let readOnly = false;
    if (parts.length > 1 && (parts.at(-1) === 'ro' || parts.at(-1) === 'rw')) readOnly = parts.pop() === 'ro';
    const [hostPath, guestPath = hostPath] = parts;
    if (!hostPath || !path.isAbsolute(hostPath) || !path.isAbsolute(guestPath ?? '') || parts.length > 2) {
      throw new SkiffError('invalid-share', `invalid share ${JSON.stringify(s)}`, {
        hint: 'give HOST_PATH[:GUEST_PATH][:ro] with absolute paths, e.g. /home/me or /srv/data:/data:ro',
        exitCode: ExitCode.usage,
      });
    }
    return { hostPath: path.normalize(hostPath), guestPath: path.normalize(guestPath!), readOnly };
  }).map((share) => {
    if (isReservedGuestPath(share.guestPath)) {
      throw new SkiffError('invalid-share', `a share cannot be mounted on ${share.guestPath} in the guest: the guest needs that path itself`, {
        hint: `give another guest path, e.g. ${share.hostPath}:/host${share.guestPath === '/' ? '' : share.guestPath}`,
        exitCode: ExitCode.usage,
      });
    }
    return share;
  });
}

/** A share whose host folder is gone would stop QEMU from starting: say which, and what to do. */
export async function checkShareHostPaths(shares: ShareEntry[]): Promise<void> {
  for (const s of shares) {
    const st = await stat(s.hostPath).catch(() => undefined);
    if (!st?.isDirectory()) {
      throw new SkiffError('share-missing', `shared folder ${s.hostPath} is not a directory on this host`, {
        hint: 'create it, or change the shares in the machine config (skiff init --share / config.yaml)',
        exitCode: ExitCode.usage,
      });
    }
  }
}
