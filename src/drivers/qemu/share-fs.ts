import { access, constants, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errorMessage } from '../../errors.js';
import type { Share } from '../driver.js';
import type { QemuShareFs } from './argv.js';
import { findOnPath } from './binaries.js';
import { startVirtiofsd, stopVirtiofsds } from './virtiofsd.js';

/** What the host offers for serving shares; probed once per driver (probeShareHost). */
export interface ShareHost {
  /** A user's choice, taken as is: SKIFF_SHARE_FS, else the machine's shareFs setting. */
  forced?: string;
  /** Where `forced` came from, so a notice names it as the user wrote it (`shareFs: X` or `SKIFF_SHARE_FS=X`). */
  forcedBy?: 'env' | 'config';
  /** virtiofsd's path, if this host has one. */
  virtiofsd?: string;
  /**
   * Why virtiofsd would not start here, the way skiff starts it, if it would not
   * (tried once: see probeShareHost). QEMU 7.2's virtiofsd, run by a user who
   * is not root without subordinate gids to map (virtiofsd-namespace.ts), exits
   * as soon as that user has any supplementary group ("setgroups() failed").
   */
  virtiofsdProblem?: string;
  /** Whether this QEMU has the vhost-user-fs-pci device. */
  qemuVirtiofs: boolean;
  /** Whether this QEMU has virtio-9p (-virtfs). */
  qemuVirtfs: boolean;
}

export type ShareFsChoice = { fs: QemuShareFs; notice?: string } | { fs: 'none'; notice: string };

/**
 * 9p unless the user asks for virtiofs (`skiff init --share-fs virtiofs`, or
 * SKIFF_SHARE_FS=virtiofs for one command), chosen by measurement: virtiofs
 * unpacked a 10,899-file tree 8.4x faster than 9p (bench/shares.results.md),
 * but `suspend` and the resume took 5.69 s and 6.00 s against 3.53 s and
 * 3.23 s with a 9p share (bench/suspend-virtiofs.results.md,
 * bench/suspend-9p-share.results.md), and Debian 12's virtiofsd starts for a
 * user who is not root only with uidmap installed. Asked for and impossible,
 * 9p is used, saying once why. A share under /run stays on 9p: virtiofsd runs
 * with a private /run (see virtiofsd.ts).
 */
export function chooseShareFs(host: ShareHost, shares: Pick<Share, 'hostPath'>[]): ShareFsChoice {
  const list = shares.map((s) => s.hostPath).join(', ');
  const ninep = (why: string): ShareFsChoice =>
    host.qemuVirtfs ? { fs: '9p', notice: `shared folders use 9p, which is slower: ${why}` } : { fs: 'none', notice: `shared folders (${list}) are not mounted: ${why}, and this QEMU has no virtfs (9p) support either` };
  if (host.forced === undefined || host.forced === '' || host.forced === '9p') {
    if (host.qemuVirtfs) return { fs: '9p' };
    const hint = host.qemuVirtiofs && host.virtiofsd !== undefined ? " (virtiofs may serve them: shareFs: virtiofs in the machine's config.yaml)" : '';
    return { fs: 'none', notice: `shared folders (${list}) are not mounted: this QEMU has no virtfs (9p) support${hint}` };
  }
  if (host.forced !== 'virtiofs') return ninep(`${host.forcedBy === 'config' ? 'shareFs: ' : 'SKIFF_SHARE_FS='}${host.forced} is neither virtiofs nor 9p`);
  if (host.virtiofsd === undefined) return ninep('virtiofsd was not found (Debian: /usr/lib/qemu/virtiofsd, from qemu-system-common; or set SKIFF_VIRTIOFSD)');
  if (!host.qemuVirtiofs) return ninep('this QEMU has no vhost-user-fs-pci device');
  if (host.virtiofsdProblem !== undefined) {
    const fix = host.virtiofsdProblem.includes('setgroups') ? ': install uidmap and give your user a range in /etc/subgid' : '';
    return ninep(`virtiofsd does not start here (${host.virtiofsdProblem})${fix}`);
  }
  const underRun = shares.find((s) => /^\/(var\/)?run(\/|$)/.test(s.hostPath));
  if (underRun) return ninep(`${underRun.hostPath} is under /run, which virtiofsd cannot serve here`);
  return { fs: 'virtiofs' };
}

const VIRTIOFSD_PATHS = ['/usr/lib/qemu/virtiofsd', '/usr/libexec/virtiofsd', '/usr/lib/virtiofsd'];

/** What the user asked for: SKIFF_SHARE_FS (a one-off; empty is unset) over the machine's shareFs setting. */
export function askedShareFs(configured: string | undefined, env: NodeJS.ProcessEnv): Pick<ShareHost, 'forced' | 'forcedBy'> {
  if (env.SKIFF_SHARE_FS !== undefined && env.SKIFF_SHARE_FS !== '') return { forced: env.SKIFF_SHARE_FS, forcedBy: 'env' };
  return configured !== undefined ? { forced: configured, forcedBy: 'config' } : {};
}

/**
 * Looks at the host once; every probe is a short local check (no boot).
 * `configured` is the machine's own choice (its shareFs setting).
 */
export async function probeShareHost(qemuSystem: string, configured?: string, env: NodeJS.ProcessEnv = process.env): Promise<ShareHost> {
  const asked = askedShareFs(configured, env);
  const { execa } = await import('execa');
  // QEMU exits 0 even for an unknown device; only a build with it lists the device's options.
  const lists = async (device: string) => (await execa(qemuSystem, ['-device', `${device},help`], { reject: false, timeout: 15_000 })).stdout.includes(`${device} options`);
  const [qemuVirtiofs, qemuVirtfs, virtiofsd] = await Promise.all([lists('vhost-user-fs-pci'), lists('virtio-9p-pci'), findVirtiofsd(env)]);
  const problem = virtiofsd !== undefined && qemuVirtiofs && asked.forced === 'virtiofs' ? await trialRun(virtiofsd) : undefined;
  return {
    ...asked,
    ...(virtiofsd ? { virtiofsd } : {}),
    ...(problem !== undefined ? { virtiofsdProblem: problem } : {}),
    qemuVirtiofs,
    qemuVirtfs,
  };
}

/**
 * Starts virtiofsd exactly as a boot would, on an empty folder, and ends it: no
 * cheaper check sees every way it fails here (user namespaces off, setgroups
 * denied in one, a sandbox it cannot build). Undefined when it listened.
 */
async function trialRun(binary: string): Promise<string | undefined> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-virtiofsd-'));
  try {
    await mkdir(path.join(dir, 'src'));
    await startVirtiofsd({ binary, runDir: dir, index: 0, share: { hostPath: path.join(dir, 'src'), guestPath: '/probe', readOnly: false, tag: 'probe' }, log: path.join(dir, 'log') });
    return undefined;
  } catch (e) {
    return (await readFile(path.join(dir, 'log'), 'utf8').catch(() => '')).trim().split('\n')[0] || errorMessage(e);
  } finally {
    await stopVirtiofsds(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

/** SKIFF_VIRTIOFSD, else where distributions install it, else PATH. */
export async function findVirtiofsd(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const candidates = env.SKIFF_VIRTIOFSD ? [env.SKIFF_VIRTIOFSD] : VIRTIOFSD_PATHS;
  for (const c of candidates) {
    if (await access(c, constants.X_OK).then(() => true, () => false)) return c;
  }
  return env.SKIFF_VIRTIOFSD ? undefined : findOnPath('virtiofsd');
}
