import { expect } from 'vitest';
import { parseAdjtimex } from '../../src/agent/clock.js';
import { docker } from './docker.js';

/**
 * Reads the guest's clock from inside a container (busybox `adjtimex` in `image`).
 * The reading was taken somewhere between t0 and t1 on the host: a clock within
 * 1 s of the host's reads within [t0 - 1 s, t1 + 1 s]; outside that it is off by more.
 */
export async function containerClock(dockerHost: string, image: string): Promise<{ guest: number; t0: number; t1: number }> {
  const t0 = Date.now();
  const r = await docker(dockerHost, ['run', '--rm', image, 'busybox', 'adjtimex'], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`docker run adjtimex exited ${r.code}: ${r.stderr}`);
  return { guest: parseAdjtimex(r.stdout).ms, t0, t1: Date.now() };
}

/**
 * The agent steps the clock when the guest runs again (its step waits for a
 * whole second): a reading is retried a few times, then must be within bounds.
 */
export async function expectClockWithinOneSecond(dockerHost: string, image: string): Promise<void> {
  let c = await containerClock(dockerHost, image);
  for (let i = 0; i < 5 && (c.guest < c.t0 - 1_000 || c.guest > c.t1 + 1_000); i++) {
    await new Promise((r) => setTimeout(r, 2_000));
    c = await containerClock(dockerHost, image);
  }
  expect(c.guest).toBeGreaterThanOrEqual(c.t0 - 1_000);
  expect(c.guest).toBeLessThanOrEqual(c.t1 + 1_000);
}
