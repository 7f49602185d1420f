import { waitUntil } from './wait.js';

/**
 * Ends a process politely, then for certain: SIGTERM (it may flush and clean up),
 * up to termMs for it to go, then SIGKILL and up to killMs more. `gone` decides
 * what "gone" means to the caller (exited, or no longer the process it started).
 * Resolves true once gone.
 */
export async function terminate(
  pid: number,
  opts: { gone: () => boolean | Promise<boolean>; termMs: number; killMs: number; intervalMs?: number },
): Promise<boolean> {
  const wait = async (timeoutMs: number) =>
    (await waitUntil(async () => (await opts.gone()) || undefined, { timeoutMs, intervalMs: opts.intervalMs ?? 50 })) === true;
  if (await opts.gone()) return true;
  send(pid, 'SIGTERM');
  if (await wait(opts.termMs)) return true;
  send(pid, 'SIGKILL');
  return wait(opts.killMs);
}

function send(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone (or never ours to signal): `gone` says which.
  }
}
