import { readFile } from 'node:fs/promises';

/** A pid file: a decimal pid and a newline (QEMU's -pidfile, the agent's and its supervisor's). */
export function parsePidFile(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return undefined;
  const pid = Number(t);
  return pid > 0 && Number.isSafeInteger(pid) ? pid : undefined;
}

/** Undefined when the file is missing, unreadable or not a pid: the caller treats all as "not running". */
export async function readPidFile(file: string): Promise<number | undefined> {
  try {
    return parsePidFile(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}
