import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../util/atomic-file.js';
import type { Accel, QemuShareFs } from './argv.js';

/** What start() chose and later calls need; written atomically, never trusted without a liveness check. */
export interface QemuRunState {
  version: 1;
  pid: number;
  sshPort: number;
  accel: Accel;
  qmpSocket: string;
  startedAt: string;
  /** The command line it runs with: what a suspend records the saved state against. */
  argv?: string[];
  /** How the shares reach the guest (absent: an older skiff's run, which had only 9p). */
  shareFs?: QemuShareFs;
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
  const argv = Array.isArray(o.argv) && o.argv.every((a) => typeof a === 'string') ? { argv: o.argv as string[] } : {};
  const shareFs = o.shareFs === '9p' || o.shareFs === 'virtiofs' ? { shareFs: o.shareFs as QemuShareFs } : {};
  return { version: 1, pid: o.pid, sshPort: port, accel: o.accel, qmpSocket: o.qmpSocket, startedAt: o.startedAt, ...argv, ...shareFs };
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

/** Where a machine's QEMU keeps its pid and monitor socket (also what leftovers.ts looks for). */
export function qemuRuntimeFiles(runDir: string): { pidFile: string; qmpSocket: string } {
  return { pidFile: path.resolve(runDir, 'qemu.pid'), qmpSocket: path.resolve(runDir, 'qmp.sock') };
}
