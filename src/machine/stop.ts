import { stopAgent } from '../agent/control.js';
import { pauseCause, resumeVm } from '../drivers/pause.js';
import { ExitCode, SkiffError } from '../errors.js';
import type { Machine } from './machine.js';
import { machineFlag } from '../layout/paths.js';

export interface StopResult {
  wasRunning: boolean;
  /** Suspended: left so (start resumes it), or with `force` its saved state thrown away. */
  suspended?: 'kept' | 'discarded';
}

/**
 * Stops the agent first (clients get a clean "cannot connect" rather than a
 * connection cut mid-request), then the guest: ACPI power button, a wait for its
 * clean power-off, and a forced stop only after the timeout.
 */
export function stopMachine(m: Machine, opts: StopOptions = {}): Promise<StopResult> {
  return m.lock(() => stopLocked(m, opts));
}

export interface StopOptions {
  force?: boolean;
  timeoutMs?: number;
}

/** The stop itself, for callers that already hold the machine's lock. */
export async function stopLocked(m: Machine, opts: StopOptions = {}): Promise<StopResult> {
  const state = await m.driver.state();
  if (state === 'paused' && !opts.force) await letPausedGuestHear(m);
  await stopAgent(m.paths);
  if (state === 'suspended') {
    // Nothing runs. The saved state is the containers' memory: only --force throws it away.
    if (!opts.force) return { wasRunning: false, suspended: 'kept' };
    await m.driver.discardSavedState();
    return { wasRunning: false, suspended: 'discarded' };
  }
  if (state === 'stopped' || state === 'not-created') return { wasRunning: false };
  await m.driver.stop({ force: opts.force ?? false, timeoutMs: opts.timeoutMs ?? 60_000 });
  return { wasRunning: true };
}

/**
 * A paused guest cannot hear the power button: it is resumed first so it shuts
 * down cleanly. Not one paused on a full host disk: it would pause again on the
 * writes it is waiting to make, and powering it off would lose them.
 */
async function letPausedGuestHear(m: Machine): Promise<void> {
  const ctl = m.driver.pauseControl();
  if (!ctl) return;
  const cause = await pauseCause(ctl).catch(() => undefined);
  if (cause?.reason === 'host-disk-full') {
    throw new SkiffError('host-disk-full', `machine "${m.name}" is paused on a full host disk with writes still to make`, {
      hint: `free space there and it goes on by itself (then stop it); \`skiff stop --force${machineFlag(m.name)}\` powers it off and loses those writes`,
      exitCode: ExitCode.conflict,
    });
  }
  await resumeVm(ctl).catch(() => undefined);
}
