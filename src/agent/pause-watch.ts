/**
 * Lets a VM that paused on a full host disk go on by itself once there is space
 * again (issue 18): the user frees space and docker carries on, no skiff command
 * needed. A paused guest cannot answer the link's keepalives, so the VM is only
 * asked while the guest is silent (the link down, or held through the pause);
 * a pause for any other reason (an I/O error, a user's QMP `stop`) is logged
 * and left alone.
 */
import type { PauseControl } from '../drivers/driver.js';
import { hostFreeBytes, mib, pauseCause, RESUME_MIN_FREE_BYTES, resumeVm, type PauseCause } from '../drivers/pause.js';
import { errorMessage } from '../errors.js';
import type { Log } from './log.js';

export interface PauseWatchOptions {
  log: Log;
  /** True while the guest answers over the SSH link: it runs, nothing to ask. */
  linkUp: () => boolean;
  /** Called after the VM was resumed (the link reconnects at once rather than at its next probe). */
  onResumed?: () => void;
  intervalMs?: number;
  minFreeBytes?: number;
  /** Replaceable so tests can play a disk that fills and empties. */
  freeBytes?: (dataDisk: string) => Promise<number>;
  cause?: (ctl: PauseControl) => Promise<PauseCause | undefined>;
  resume?: (ctl: PauseControl) => Promise<void>;
}

export function watchPause(ctl: PauseControl, opts: PauseWatchOptions): { stop(): void } {
  const intervalMs = opts.intervalMs ?? 2_000;
  const minFree = opts.minFreeBytes ?? RESUME_MIN_FREE_BYTES;
  const freeBytes = opts.freeBytes ?? hostFreeBytes;
  const cause = opts.cause ?? pauseCause;
  const resume = opts.resume ?? resumeVm;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let reported: string | undefined;

  const tick = async (): Promise<void> => {
    try {
      if (!opts.linkUp()) await check();
      else reported = undefined;
    } catch (e) {
      opts.log(`pause watch: ${errorMessage(e)}`);
    }
    if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
  };

  const check = async (): Promise<void> => {
    const c = await cause(ctl);
    if (c === undefined) {
      reported = undefined;
      return;
    }
    if (reported !== c.reason) {
      reported = c.reason;
      opts.log(`the VM is paused: ${c.detail}`);
    }
    if (c.reason !== 'host-disk-full') return;
    const free = await freeBytes(ctl.dataDisk);
    if (free < minFree) return;
    opts.log(`the host disk has ${mib(free)} free again: resuming the VM`);
    await resume(ctl);
    reported = undefined;
    opts.onResumed?.();
  };

  timer = setTimeout(() => void tick(), intervalMs);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
