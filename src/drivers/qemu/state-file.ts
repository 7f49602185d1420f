import { readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../../util/atomic-file.js';
import type { Accel } from './argv.js';

/** What start() chose and later calls need; written atomically, never trusted without a liveness check. */
export interface QemuRunState {
  version: 1;
  pid: number;
  sshPort: number;
  accel: Accel;
  qmpSocket: string;
  startedAt: string;
}

/** Undefined for anything that is not a complete, well-formed state (a torn or foreign file is ignored). */
export function parseRunState(text: string): QemuRunState | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const port = o.sshPort;
  if (o.version !== 1) return undefined;
  if (typeof o.pid !== 'number' || !Number.isInteger(o.pid) || o.pid <= 0) return undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  if (o.accel !== 'kvm' && o.accel !== 'hvf' && o.accel !== 'tcg') return undefined;
  if (typeof o.qmpSocket !== 'string' || o.qmpSocket === '') return undefined;
  if (typeof o.startedAt !== 'string') return undefined;
  return { version: 1, pid: o.pid, sshPort: port, accel: o.accel, qmpSocket: o.qmpSocket, startedAt: o.startedAt };
}

export async function readRunState(file: string): Promise<QemuRunState | undefined> {
  try {
    return parseRunState(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}

export async function writeRunState(file: string, s: QemuRunState): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
}

export async function removeRunState(file: string): Promise<void> {
  await rm(file, { force: true });
}

/** QEMU's -pidfile: a decimal pid and a newline. */
export function parsePidFile(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return undefined;
  const pid = Number(t);
  return pid > 0 && Number.isSafeInteger(pid) ? pid : undefined;
}

export async function readPidFile(file: string): Promise<number | undefined> {
  try {
    return parsePidFile(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}
