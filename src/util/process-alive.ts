import { readFile } from 'node:fs/promises';

/** True when a process with this pid exists (EPERM means it exists but is not ours). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The command line of a live process, arguments joined by spaces, or undefined
 * when it is gone. Used to tell our process from an unrelated one that reused a
 * stale pid.
 */
export async function processCommandLine(pid: number): Promise<string | undefined> {
  if (!isProcessAlive(pid)) return undefined;
  if (process.platform === 'linux') {
    try {
      const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      // A zombie has an empty cmdline: it is as good as gone.
      if (raw === '') return undefined;
      return raw.replace(/\0+$/, '').split('\0').join(' ');
    } catch {
      return undefined;
    }
  }
  // Loaded only here: execa is large, and Linux never gets this far.
  const { execa } = await import('execa');
  const r = await execa('ps', ['-o', 'command=', '-p', String(pid)], { reject: false });
  const out = r.stdout.trim();
  return r.exitCode === 0 && out !== '' ? out : undefined;
}
