import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, SkiffError } from '../errors.js';
import type { DriverName, ShareFs } from '../drivers/driver.js';

/** One host folder seen in the guest (config.ts's ShareSchema has the same shape). */
export interface ShareEntry {
  hostPath: string;
  guestPath: string;
  readOnly: boolean;
}

/** What a user may give: objects (YAML) or "HOST[:GUEST][:ro]" strings (flags); false for none. */
export type ShareSettings = Array<string | ShareEntry> | false;

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
 * Splits a "HOST[:GUEST][:ro]" flag on its unescaped colons: `\:` is a colon
 * inside a path and `\\` a backslash. Returns undefined for a dangling `\` or an
 * escape of anything else, so a typo is refused rather than guessed at.
 */
export function splitShareFlag(s: string): string[] | undefined {
  const parts = [''];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') {
      const next = s[++i];
      if (next !== ':' && next !== '\\') return undefined;
      parts[parts.length - 1] += next;
    } else if (c === ':') {
      parts.push('');
    } else {
      parts[parts.length - 1] += c;
    }
  }
  return parts;
}

const FLAG_HINT =
  'give HOST_PATH[:GUEST_PATH][:ro] with absolute paths, e.g. /home/me or /srv/data:/data:ro; write a colon inside a path as \\: (or use the YAML form hostPath/guestPath/readOnly in --config)';

function invalidShare(s: string, why?: string): SkiffError {
  return new SkiffError('invalid-share', `invalid share ${JSON.stringify(s)}${why ? `: ${why}` : ''}`, { hint: FLAG_HINT, exitCode: ExitCode.usage });
}

function parseShareFlag(s: string): ShareEntry {
  const parts = splitShareFlag(s);
  if (!parts) throw invalidShare(s, 'a backslash may only escape ":" or "\\"');
  let readOnly = false;
  if (parts.length > 1 && (parts.at(-1) === 'ro' || parts.at(-1) === 'rw')) readOnly = parts.pop() === 'ro';
  const [hostPath, guestPath = hostPath] = parts;
  if (!hostPath || !path.isAbsolute(hostPath) || !path.isAbsolute(guestPath ?? '') || parts.length > 2) throw invalidShare(s);
  return { hostPath, guestPath: guestPath!, readOnly };
}

/**
 * Control characters (newline, tab, ...) in a share path are refused: they cannot
 * be typed safely, and mount tables and logs escape or split on them. Every other
 * character, spaces, quotes, colons and non-ASCII included, is carried as is.
 */
export function shareCharacterProblem(p: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x1f\x7f]/.test(p) ? 'it holds a control character (newline, tab, ...)' : undefined;
}

/**
 * Shares come as objects (YAML) or as "HOST[:GUEST][:ro]" strings (flags);
 * `false` means none. Relative host paths are not accepted: the guest mounts
 * them at boot, long after the shell that named them is gone.
 */
export function resolveShares(input: ShareSettings | undefined, defaults: ShareEntry[]): ShareEntry[] {
  if (input === undefined) return defaults;
  if (input === false) return [];
  const seen = new Map<string, string>();
  return input.map((s) => {
    const share = typeof s === 'string' ? parseShareFlag(s) : s;
    for (const p of [share.hostPath, share.guestPath]) {
      const problem = shareCharacterProblem(p);
      if (problem) throw invalidShare(typeof s === 'string' ? s : p, problem);
    }
    const n = { hostPath: path.normalize(share.hostPath), guestPath: path.posix.normalize(share.guestPath).replace(/(.)\/+$/, '$1'), readOnly: share.readOnly };
    if (isReservedGuestPath(n.guestPath)) {
      throw new SkiffError('invalid-share', `a share cannot be mounted on ${n.guestPath} in the guest: the guest needs that path itself`, {
        hint: `give another guest path, e.g. ${n.hostPath}:/host${n.guestPath === '/' ? '' : n.guestPath}`,
        exitCode: ExitCode.usage,
      });
    }
    const other = seen.get(n.guestPath);
    if (other !== undefined) {
      throw new SkiffError('invalid-share', `two shares (${other} and ${n.hostPath}) are mounted on ${n.guestPath} in the guest`, {
        hint: 'give each share its own guest path: HOST_PATH:GUEST_PATH',
        exitCode: ExitCode.usage,
      });
    }
    seen.set(n.guestPath, n.hostPath);
    return n;
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

/** How the guest mounts a share: the file system and its options. */
export interface ShareMount {
  fs: ShareFs;
  options: string;
}

/**
 * 9p as QEMU serves it, its default (drivers/qemu/share-fs.ts says why).
 * cache=mmap keeps mmap (and so executables) working and shows host edits at
 * once; cache=loose was 3.5-6.4x faster on small files but served a file's old
 * contents after the host rewrote it, so it is not used. msize=512000 is the
 * most the guest kernel's virtio transport takes (asked for 1 MiB, it mounts
 * with 512000): 1 GiB sequential write 13.4 s and read 8.6 s against 24.1 s and
 * 12.7 s with 262144, small files unchanged; unpacking 10,899 files took 666 s,
 * 47x the VM's disk (`node bench/shares.mjs --copies 3 --big-mib 1024 --variants
 * default,loose,msize1m --virtiofs 'auto,always'`, bench/shares.results.md as of
 * commit acab5ad).
 */
export const NINEP_MOUNT: ShareMount = { fs: '9p', options: 'trans=virtio,version=9p2000.L,msize=512000,cache=mmap' };

/**
 * virtiofs as skiff's virtiofsd serves it (cache=auto, drivers/qemu/virtiofsd.ts
 * says why). Unpacking the same 10,899 files took 104 s and reading them back
 * 33.7 s, 6.4x and 3.6x faster than 9p; 4.0x and 2.7x the VM's disk in that run
 * (`flock /tmp/skiff-boot.lock node bench/shares.mjs --copies 3 --big-mib 1024
 * --variants ''`, bench/shares.results.md). It needs no mount options.
 */
export const VIRTIOFS_MOUNT: ShareMount = { fs: 'virtiofs', options: '' };

/** `fs`: what the driver says the shares travel on (DriverInfo.shareFs); QEMU's default otherwise. */
export function shareMountFor(driver: DriverName, fs?: ShareFs): ShareMount {
  if (driver === 'virtualbox') return { fs: 'vboxsf', options: '' };
  return fs === 'virtiofs' ? VIRTIOFS_MOUNT : NINEP_MOUNT;
}
