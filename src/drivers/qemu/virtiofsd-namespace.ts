import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { findOnPath } from './binaries.js';

/**
 * How virtiofsd becomes root enough to build its sandbox (virtiofsd.ts):
 * - `root`: skiff runs as root; virtiofsd only gets its own mount namespace.
 * - `subgid`: a user with subordinate group ids (/etc/subgid) and newgidmap
 *   (Debian: uidmap). unshare maps the user to root and those gids in via
 *   newgidmap, which leaves setgroups allowed, so virtiofsd can drop the
 *   user's supplementary groups as it insists on doing.
 * - `self`: `unshare -r`, the user alone. The kernel then denies setgroups,
 *   and QEMU 7.2's virtiofsd exits ("setgroups() failed") for any user who has
 *   a supplementary group.
 * In every mode only the user's own uid is mapped, so a guest process of
 * another uid cannot create files in a share.
 */
export type VirtiofsdNamespace = 'root' | 'subgid' | 'self';

/** The `unshare` flags each mode runs virtiofsd's start script under. */
export function unshareFlags(ns: VirtiofsdNamespace): string[] {
  if (ns === 'root') return ['-m'];
  // util-linux 2.38+: --map-groups=auto takes the user's first /etc/subgid range (at gid 1) through newgidmap.
  if (ns === 'subgid') return ['--map-root-user', '--map-groups=auto', '-m'];
  return ['-rm'];
}

export interface NamespaceProbe {
  uid: number | undefined;
  user: string;
  /** /etc/subgid's text, or undefined when there is none. */
  subgid: string | undefined;
  newgidmap: boolean;
  /** Whether this unshare takes --map-groups (util-linux 2.38 and later). */
  unshareMapsGroups: boolean;
}

export function chooseNamespace(p: NamespaceProbe): VirtiofsdNamespace {
  if (p.uid === 0) return 'root';
  const hasRange = (p.subgid ?? '').split('\n').some((line) => {
    const owner = line.split(':')[0];
    return owner === p.user || (p.uid !== undefined && owner === String(p.uid));
  });
  return hasRange && p.newgidmap && p.unshareMapsGroups ? 'subgid' : 'self';
}

let probed: Promise<VirtiofsdNamespace> | undefined;

/** This host's mode for this user, looked at once per process. */
export function virtiofsdNamespace(): Promise<VirtiofsdNamespace> {
  probed ??= (async () => {
    const uid = process.getuid?.();
    if (uid === 0) return 'root';
    const { execa } = await import('execa');
    const [subgid, newgidmap, help] = await Promise.all([
      readFile('/etc/subgid', 'utf8').catch(() => undefined),
      findOnPath('newgidmap'),
      execa('unshare', ['--help'], { reject: false, timeout: 15_000 }),
    ]);
    return chooseNamespace({ uid, user: os.userInfo().username, subgid, newgidmap: newgidmap !== undefined, unshareMapsGroups: help.stdout.includes('--map-groups') });
  })();
  return probed;
}
