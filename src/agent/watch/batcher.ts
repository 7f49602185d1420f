/**
 * Gathers paths and hands them over in one batch once they stop coming for
 * `quietMs`, or `maxWaitMs` after the first, whichever is sooner: an editor's
 * save (write, rename, chmod) becomes one replay, and a steady stream of
 * changes is still replayed at least that often. Batches are handed over one
 * at a time: a batch that arrives while one is being handled waits for it.
 */
export class Batcher {
  private pending = new Set<string>();
  private quietTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly handle: (batch: string[]) => Promise<void>,
    private readonly quietMs = 50,
    private readonly maxWaitMs = 500,
  ) {}

  add(item: string): void {
    if (this.stopped) return;
    this.pending.add(item);
    clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.flush(), this.quietMs);
    this.maxTimer ??= setTimeout(() => this.flush(), this.maxWaitMs);
  }

  /** Resolves once everything handed over so far has been handled. */
  idle(): Promise<void> {
    return this.running;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.quietTimer);
    clearTimeout(this.maxTimer);
    this.pending.clear();
  }

  private flush(): void {
    clearTimeout(this.quietTimer);
    clearTimeout(this.maxTimer);
    this.quietTimer = this.maxTimer = undefined;
    if (this.pending.size === 0 || this.stopped) return;
    const batch = [...this.pending];
    this.pending = new Set();
    this.running = this.running.then(() => this.handle(batch)).catch(() => undefined);
  }
}
