import { stopAgent } from '../agent/control.js';
import type { Machine } from './machine.js';

export interface StopResult {
  wasRunning: boolean;
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
  await stopAgent(m.paths);
  if (state === 'stopped' || state === 'not-created') return { wasRunning: false };
  await m.driver.stop({ force: opts.force ?? false, timeoutMs: opts.timeoutMs ?? 60_000 });
  return { wasRunning: true };
}
