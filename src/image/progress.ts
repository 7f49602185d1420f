/** What ImageStore reports while it works; the UI decides whether to show it. */
export interface ImageProgress {
  transferred: number;
  total?: number;
  bytesPerSecond: number;
  phase: 'download' | 'verify';
}

export type ProgressListener = (p: ImageProgress) => void;

const REPORT_EVERY_MS = 100;
const RATE_WINDOW_MS = 3000;

/**
 * Throttles progress to ~10 reports a second and computes the speed over the
 * last few seconds, so a resumed download's speed is not inflated by the bytes
 * it already had.
 */
export class ProgressMeter {
  private samples: Array<{ t: number; bytes: number }> = [];
  private lastReport = 0;

  constructor(
    private readonly phase: ImageProgress['phase'],
    private readonly listener: ProgressListener | undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  update(transferred: number, total: number | undefined, force = false): void {
    if (!this.listener) return;
    const t = this.now();
    this.samples.push({ t, bytes: transferred });
    while (this.samples.length > 2 && t - this.samples[0]!.t > RATE_WINDOW_MS) this.samples.shift();
    if (!force && t - this.lastReport < REPORT_EVERY_MS) return;
    this.lastReport = t;
    const first = this.samples[0]!;
    const dt = (t - first.t) / 1000;
    const bytesPerSecond = dt > 0 ? Math.max(0, (transferred - first.bytes) / dt) : 0;
    this.listener({ phase: this.phase, transferred, total, bytesPerSecond });
  }

  /** A restart from zero (server ignored Range): old samples would give a negative speed. */
  reset(): void {
    this.samples = [];
  }
}
