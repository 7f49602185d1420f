import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { SkiffError } from '../../errors.js';
import { exists } from '../../util/exists.js';
import { readPidFile } from '../../util/pid-file.js';
import { processCommandLine } from '../../util/process-alive.js';
import { terminate } from '../../util/terminate.js';
import { sleep } from '../../util/wait.js';
import { writeFileAtomic } from '../../util/atomic-file.js';
import type { Share } from '../driver.js';
import { unshareFlags, virtiofsdNamespace, type VirtiofsdNamespace } from './virtiofsd-namespace.js';

/** Share i's virtiofsd socket and pid file, in the machine's runtime dir (mode 0700). */
export function virtiofsdFiles(runDir: string, i: number): { socket: string; pidFile: string } {
  return { socket: path.resolve(runDir, `vfs${i}.sock`), pidFile: path.resolve(runDir, `vfs${i}.pid`) };
}

/**
 * The shell script `unshare` runs to start one virtiofsd (flags: see
 * virtiofsd-namespace.ts). Run by a user, in its own user and mount namespace
 * virtiofsd is root enough to chroot and set up its sandbox, and its files
 * land as the user. That namespace maps only the user's uid (to the guest's
 * root), so a guest process of another uid cannot create files: virtiofsd
 * takes on the caller's uid to create one, and that uid does not exist in the
 * namespace (EINVAL). Run by root, skiff needs no user namespace, and every
 * guest uid creates files as itself, as 9p's security_model=none does for
 * root. It needs a writable /run (its lock file), so a private tmpfs goes
 * there, after which the runtime dir, if it lived under /run, is bound back
 * from the working directory that still holds it. A read-only share is a
 * read-only bind, so the host refuses writes, not just the guest's mount.
 * Arguments: source, ro|rw, virtiofsd, socket, source escaped for
 * virtiofsd's -o (commas and backslashes).
 */
export const VIRTIOFSD_SCRIPT = [
  'set -e',
  'dir=${4%/*}',
  'cd "$dir"',
  'if [ "$2" = ro ]; then mount --bind "$1" "$1"; mount -o remount,bind,ro "$1"; fi',
  'mount -t tmpfs -o mode=0700 skiff /run',
  'case "$dir" in /run/* | /var/run/*) mkdir -p "$dir"; mount --bind . "$dir" ;; esac',
  // cache=always kept serving a file's old contents after the host rewrote it (even
  // at another size); auto asks again after 1 s and on every open.
  'exec "$3" --socket-path="$4" -o source="$5" -o cache=auto',
].join('\n');

/** virtiofsd's -o splits on commas; a backslash escapes the next character. */
export function virtiofsdOptValue(v: string): string {
  return v.replace(/[\\,]/g, (c) => `\\${c}`);
}

export function virtiofsdArgv(binary: string, share: Pick<Share, 'hostPath' | 'readOnly'>, socket: string, ns: VirtiofsdNamespace): string[] {
  return [...unshareFlags(ns), 'sh', '-c', VIRTIOFSD_SCRIPT, 'sh', share.hostPath, share.readOnly ? 'ro' : 'rw', binary, socket, virtiofsdOptValue(share.hostPath)];
}

/**
 * Starts share i's virtiofsd detached (it outlives this command, as QEMU does)
 * and resolves once its socket is up. It serves one QEMU connection and exits
 * when that closes; stopVirtiofsds ends any that did not.
 */
export async function startVirtiofsd(o: { binary: string; runDir: string; index: number; share: Share; log: string }): Promise<void> {
  const { socket, pidFile } = virtiofsdFiles(o.runDir, o.index);
  await rm(socket, { force: true });
  const ns = await virtiofsdNamespace();
  const fd = openSync(o.log, 'a', 0o600);
  let child;
  try {
    child = spawn('unshare', virtiofsdArgv(o.binary, o.share, socket, ns), { detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  let exit: string | undefined;
  child.once('exit', (code, sig) => (exit = sig ?? `exit ${code}`));
  child.once('error', (e) => (exit = e.message));
  child.unref();
  if (pid !== undefined) await writeFileAtomic(pidFile, `${pid}\n`, { mode: 0o600 });
  for (let waited = 0; exit === undefined && waited < 10_000; waited += 20) {
    if (await exists(socket)) return;
    await sleep(20);
  }
  const tail = (await readFile(o.log, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' / ');
  if (pid !== undefined && exit === undefined) process.kill(pid, 'SIGKILL');
  throw new SkiffError('virtiofsd', `virtiofsd for ${o.share.hostPath} did not start (${exit ?? 'no socket after 10 s'})${tail ? `: ${tail}` : ''}`, {
    hint: `see ${o.log}; SKIFF_SHARE_FS=9p serves the shares over 9p instead`,
  });
}

/** Ends the virtiofsds of this runtime dir (all, or those of `only`) and removes their files; ours name their socket on their command line. */
export async function stopVirtiofsds(runDir: string, only?: number[]): Promise<void> {
  const names = await readdir(runDir).catch(() => [] as string[]);
  const indexes = names.flatMap((n) => /^vfs(\d+)\.(pid|sock)$/.exec(n)?.[1] ?? []).map(Number);
  for (const i of new Set(indexes)) {
    if (only !== undefined && !only.includes(i)) continue;
    const { socket, pidFile } = virtiofsdFiles(runDir, i);
    const pid = await readPidFile(pidFile);
    const ours = async () => pid !== undefined && ((await processCommandLine(pid)) ?? '').includes(socket);
    if (pid !== undefined && (await ours())) await terminate(pid, { gone: async () => !(await ours()), termMs: 3_000, killMs: 5_000, intervalMs: 50 });
    await rm(pidFile, { force: true });
    await rm(socket, { force: true });
  }
}
