export interface WakeClocks {
  wall: () => number;
  mono: () => number;
}

const SYSTEM: WakeClocks = { wall: Date.now, mono: () => performance.now() };

/**
 * Notices that this process did not run for a while: the host slept (its wall
 * clock jumped against the monotonic one, which stops during suspend) or the
 * process was stopped or starved (a tick arrived far too late). Either way the
 * SSH link's idea of the world is stale and the guest's clock is likely off.
 */
export class WakeWatch {
  private timer: NodeJS.Timeout | undefined;
  private lastWall = 0;
  private lastMono = 0;

  constructor(
    private readonly onWake: (gapMs: number, why: string) => void,
    private readonly tickMs = 1_000,
    private readonly slackMs = 2_000,
    private readonly clocks: WakeClocks = SYSTEM,
  ) {}

  start(): void {
    this.mark();
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private mark(): void {
    this.lastWall = this.clocks.wall();
    this.lastMono = this.clocks.mono();
  }

  /** One tick's check; public so tests can drive it with fake clocks. */
  tick(): void {
    const wallGap = this.clocks.wall() - this.lastWall;
    const monoGap = this.clocks.mono() - this.lastMono;
    this.mark();
    // Forward: a suspend the monotonic clock did not count; backward: the host's clock was set back.
    if (Math.abs(wallGap - monoGap) > this.slackMs) this.onWake(wallGap, `host wall clock jumped ${((wallGap - monoGap) / 1000).toFixed(1)} s`);
    else if (monoGap > this.tickMs + this.slackMs) this.onWake(monoGap, `agent did not run for ${(monoGap / 1000).toFixed(1)} s`);
  }
}
