import type { PauseReason } from '../driver.js';
import { qmpOnce } from './qmp.js';

interface BlockInfo {
  device?: string;
  qdev?: string;
  /** Present for devices whose error policy can stop the VM: "ok", "failed" or "nospace". */
  'io-status'?: string;
}

/** QMP's run status and block devices → why the VM is paused; undefined while it is not. */
export function pauseReasonFrom(status: string | undefined, blocks: BlockInfo[]): PauseReason | undefined {
  switch (status) {
    case 'io-error':
      // The data disk's werror/rerror=stop (argv.ts) paused it; "nospace" is ENOSPC (or EDQUOT) on the host.
      return blocks.some((b) => b['io-status'] === 'nospace') ? 'host-disk-full' : 'host-disk-error';
    case 'paused':
    case 'suspended':
    // Stopped for a migration (a save) and not quit: a suspend killed at that moment.
    case 'finish-migrate':
    case 'postmigrate':
    // Loading a saved state (-incoming), or loaded and not yet let go (-S).
    case 'inmigrate':
    case 'prelaunch':
      return 'paused';
    default:
      return undefined;
  }
}

export async function qemuPauseReason(qmpSocket: string): Promise<PauseReason | undefined> {
  const s = await qmpOnce<{ status?: string }>(qmpSocket, 'query-status', undefined, 3000);
  if (s.status !== 'io-error') return pauseReasonFrom(s.status, []);
  const blocks = await qmpOnce<BlockInfo[]>(qmpSocket, 'query-block', undefined, 3000);
  return pauseReasonFrom(s.status, blocks);
}

/**
 * Lets the VM go on. After an I/O error QEMU retries the failed requests on
 * `cont` (and pauses again if they fail again); a guest that suspended itself
 * (ACPI S3) is woken instead.
 */
export async function qemuResume(qmpSocket: string): Promise<void> {
  const s = await qmpOnce<{ status?: string }>(qmpSocket, 'query-status', undefined, 3000);
  if (s.status === 'suspended') await qmpOnce(qmpSocket, 'system_wakeup', undefined, 5000);
  else if (s.status !== 'running') await qmpOnce(qmpSocket, 'cont', undefined, 10_000);
}
