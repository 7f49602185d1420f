import { rm } from 'node:fs/promises';
import path from 'node:path';
import { hostFreeBytes, mib } from '../pause.js';
import { ExitCode, SkiffError } from '../../errors.js';
import { exists } from '../../util/exists.js';
import { sleep, waitUntil } from '../../util/wait.js';
import { doneMarker } from './saved-state.js';
import { QmpClient, qmpOnce } from './qmp.js';

/** query-migrate's answer, as far as skiff reads it. */
interface MigrateInfo {
  status?: string;
  'error-desc'?: string;
  ram?: { transferred?: number };
}

const SAVE_TIMEOUT_MS = 10 * 60_000;
const DONE = new Set(['completed', 'failed', 'cancelled']);

/**
 * Stops the VM and writes its whole state through `command` (QEMU's exec:
 * migration, run by /bin/sh) into `file`. The VM is stopped first so that the
 * stream is one consistent image taken at once, not pages chased while the guest
 * dirties them. On any failure the VM runs on (`cont`) and `file` is removed; on
 * success it stays stopped, for the caller to quit.
 */
export async function saveVm(qmpSocket: string, command: string, file: string): Promise<void> {
  const qmp = await QmpClient.connect(qmpSocket);
  try {
    // QEMU's default cap (128 MiB/s) is for a live link between hosts; a file takes what it can.
    await qmp.execute('migrate-set-parameters', { 'max-bandwidth': 64 * 2 ** 30 });
    await qmp.execute('stop');
    let info: MigrateInfo;
    try {
      await qmp.execute('migrate', { uri: `exec:${command}` });
      const deadline = Date.now() + SAVE_TIMEOUT_MS;
      for (;;) {
        info = await qmp.execute<MigrateInfo>('query-migrate');
        if (info.status !== undefined && DONE.has(info.status)) break;
        if (Date.now() > deadline) {
          await qmp.execute('migrate_cancel').catch(() => undefined);
          info = { status: 'failed', 'error-desc': `not done after ${SAVE_TIMEOUT_MS / 1000} s` };
          break;
        }
        await sleep(50);
      }
    } catch (e) {
      info = { status: 'failed', 'error-desc': (e as Error).message };
    }
    if (info.status === 'completed') {
      // QEMU is done; the writer may still be flushing its last block, or have failed at it.
      if (await waitUntil(() => exists(doneMarker(file)), { timeoutMs: 30_000, intervalMs: 20 })) {
        await rm(doneMarker(file), { force: true });
        return;
      }
      info = { status: 'failed', 'error-desc': 'the state file was not written whole' };
    }
    await qmp.execute('cont').catch(() => undefined);
    await rm(file, { force: true });
    await rm(doneMarker(file), { force: true });
    throw await saveFailed(file, info);
  } finally {
    qmp.close();
  }
}

async function saveFailed(file: string, info: MigrateInfo): Promise<SkiffError> {
  const dir = path.dirname(file);
  const free = await hostFreeBytes(file).catch(() => undefined);
  // The compressor dies on ENOSPC and QEMU only sees its pipe close: ask the disk.
  if (free !== undefined && free < 64 * 2 ** 20) {
    return new SkiffError('host-disk-full', `no room to save the VM's state: the host disk holding ${dir} is full (${mib(free)} free); the machine runs on`, {
      hint: 'free some space there and suspend again (the state takes a few hundred MiB)',
      exitCode: ExitCode.environment,
    });
  }
  return new SkiffError('suspend-failed', `saving the VM's state failed (QEMU: ${info['error-desc'] ?? info.status ?? 'unknown'}); the machine runs on`, {
    hint: 'see `skiff logs`; `skiff stop` shuts it down cleanly instead',
  });
}

/**
 * Waits for a QEMU started with -incoming to have read its whole state: its
 * query-migrate says "completed" or "failed" (or QEMU is gone). A QEMU run with
 * -daemonize has usually finished loading by the time its parent exits.
 */
export async function incomingDone(qmpSocket: string, timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let status: string;
    try {
      status = (await qmpOnce<MigrateInfo>(qmpSocket, 'query-migrate', undefined, 5000)).status ?? 'none';
    } catch (e) {
      return `monitor unreachable: ${(e as Error).message}`;
    }
    if (DONE.has(status)) return status;
    if (Date.now() > deadline) return `still ${status} after ${timeoutMs / 1000} s`;
    await sleep(50);
  }
}
