/**
 * Why a paused VM is paused, and how to let it go on. A VM pauses on its own
 * when a write to its data disk fails on the host for lack of space (QEMU's
 * werror=stop, VirtualBox's DrvVD_DISKFULL): pausing is what keeps that disk
 * from being corrupted, and the guest goes on where it stopped once there is
 * space. The agent (which resumes it by itself), `status` and `start` all go
 * through here, so they agree on what "full" means.
 */
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import type { PauseControl, PauseReason } from './driver.js';

export type { PauseReason };

export interface PauseCause {
  reason: PauseReason;
  /** One line for the user: what happened and what to do. */
  detail: string;
}

/**
 * The free space a VM paused on a full host disk needs before it is resumed:
 * less would only pause it again at the next burst of writes.
 */
export const RESUME_MIN_FREE_BYTES = 256 * 1024 * 1024;

/** Bytes an unprivileged process may still write on the file system holding the data disk. */
export async function hostFreeBytes(dataDisk: string): Promise<number> {
  const s = await statfs(path.dirname(dataDisk));
  return s.bavail * s.bsize;
}

/** Whole MiB: the scale at which a full disk is talked about. */
export function mib(bytes: number): string {
  return `${Math.floor(bytes / 2 ** 20)} MiB`;
}

/** Why the VM is paused, or undefined when it is not paused (or the hypervisor cannot say). */
export async function pauseCause(ctl: PauseControl): Promise<PauseCause | undefined> {
  if (ctl.kind === 'qemu') {
    const { qemuPauseReason } = await import('./qemu/pause.js');
    return describe(await qemuPauseReason(ctl.qmpSocket), ctl.dataDisk);
  }
  const { vboxPauseReason } = await import('./virtualbox/pause.js');
  return describe(await vboxPauseReason(ctl.vboxManage, ctl.vm), ctl.dataDisk);
}

export async function resumeVm(ctl: PauseControl): Promise<void> {
  if (ctl.kind === 'qemu') {
    const { qemuResume } = await import('./qemu/pause.js');
    return qemuResume(ctl.qmpSocket);
  }
  const { vboxResume } = await import('./virtualbox/pause.js');
  return vboxResume(ctl.vboxManage, ctl.vm);
}

async function describe(reason: PauseReason | undefined, dataDisk: string): Promise<PauseCause | undefined> {
  const dir = path.dirname(dataDisk);
  switch (reason) {
    case undefined:
      return undefined;
    case 'host-disk-full': {
      const free = await hostFreeBytes(dataDisk).catch(() => undefined);
      const now = free === undefined ? '' : ` (${mib(free)} free now)`;
      return {
        reason,
        detail: `the host disk holding ${dir} is full${now}: free space there; the VM goes on by itself once ${mib(RESUME_MIN_FREE_BYTES)} is free`,
      };
    }
    case 'host-disk-error':
      return { reason, detail: `a read or write of the data disk in ${dir} failed on the host: check that disk, then \`skiff start\` resumes the VM` };
    case 'paused':
      return { reason, detail: 'paused in the hypervisor (not by skiff): `skiff start` resumes it' };
  }
}
