import type { SkiffError } from '../errors.js';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `check` until it returns something other than undefined/false, or the
 * deadline passes (then resolves undefined). Polling, not events, because the
 * things waited on (a pid exiting, a socket appearing) have no portable event.
 */
export async function waitUntil<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs: number; intervalMs?: number },
): Promise<T | undefined> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 100;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() >= deadline) return undefined;
    await sleep(Math.min(interval, Math.max(1, deadline - Date.now())));
  }
}

/**
 * One thing that must hold before a wait is over, in the manner of lima's
 * requirements: each knows how to tell it holds, and what to say (and hint) when
 * it still does not at the deadline, so a failed start points at the right log.
 */
export interface Requirement {
  /** The spinner stage entered when the wait for this one begins. */
  stage?: { name: string; text: string };
  /** True once it holds; throws when it never will (the thing it waits for died). */
  met(): Promise<boolean>;
  /** Asked after each miss, after the shared guard: a failure seen elsewhere that waiting cannot fix. */
  broken?(): Promise<SkiffError | undefined>;
  /** The error for a deadline passed with this one unmet. */
  timedOut(): Promise<SkiffError>;
  /** Work that needs this one and may overlap the waits that follow. */
  onMet?(): void;
  pollMs: number;
}

export interface WaitOptions {
  /** One deadline for all of them: a start's time budget is not split in advance. */
  deadline: number;
  /** Asked after every miss of any requirement: a failure that ends the whole wait. */
  guard?: () => Promise<SkiffError | undefined>;
  onStage?: (name: string, text: string) => void;
}

/** Waits for each requirement in turn, in one loop and against one deadline. */
export async function waitFor(requirements: Requirement[], opts: WaitOptions): Promise<void> {
  for (const r of requirements) {
    if (r.stage) opts.onStage?.(r.stage.name, r.stage.text);
    for (;;) {
      if (await r.met()) break;
      const failed = (await opts.guard?.()) ?? (await r.broken?.());
      if (failed) throw failed;
      if (Date.now() > opts.deadline) throw await r.timedOut();
      await sleep(r.pollMs);
    }
    r.onMet?.();
  }
}
