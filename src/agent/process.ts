import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: alive, but someone else's.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function commandLine(pid: number): Promise<string | undefined> {
  if (process.platform === 'linux') {
    try {
      return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
    } catch {
      return undefined;
    }
  }
  return new Promise((resolve) => {
    execFile('ps', ['-o', 'command=', '-p', String(pid)], (err, stdout) => {
      resolve(err ? undefined : stdout.trim() || undefined);
    });
  });
}

/**
 * A pid file can outlive its process and the pid be reused by anything: only a
 * process running our entry with this spec file is ours to signal.
 */
export async function isAgentProcess(pid: number, specPath: string): Promise<boolean> {
  const cmd = await commandLine(pid);
  return cmd !== undefined && cmd.includes('agent/main.js') && cmd.includes(specPath);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
