import ora, { type Ora } from 'ora';

/**
 * A spinner that walks through named stages and remembers how long each took,
 * for `start --timings`. Silent (but still timing) when not interactive.
 */
export class StageReporter {
  private spinner: Ora | undefined;
  private current: { name: string; at: number } | undefined;
  readonly timings: Array<{ stage: string; ms: number }> = [];
  private readonly t0 = performance.now();

  constructor(private readonly interactive: boolean, private readonly color: boolean) {}

  stage(name: string, text = name): void {
    this.finishCurrent();
    this.current = { name, at: performance.now() };
    if (!this.interactive) return;
    if (!this.spinner) this.spinner = ora({ text, stream: process.stderr, color: this.color ? 'cyan' : false, isEnabled: true }).start();
    else this.spinner.text = text;
  }

  /** Updates the spinner's text within the current stage. */
  detail(text: string): void {
    if (this.spinner && this.current) this.spinner.text = `${this.current.name}: ${text}`;
  }

  /** Prints a line above the spinner without breaking it. */
  notice(text: string): void {
    if (!this.interactive) return;
    if (this.spinner) {
      this.spinner.clear();
      process.stderr.write(text + '\n');
      this.spinner.render();
    } else process.stderr.write(text + '\n');
  }

  succeed(text: string): void {
    this.finishCurrent();
    if (this.spinner) this.spinner.succeed(text);
    this.spinner = undefined;
  }

  fail(text?: string): void {
    this.finishCurrent();
    if (this.spinner) this.spinner.fail(text);
    this.spinner = undefined;
  }

  totalMs(): number {
    return performance.now() - this.t0;
  }

  private finishCurrent(): void {
    if (!this.current) return;
    this.timings.push({ stage: this.current.name, ms: Math.round(performance.now() - this.current.at) });
    this.current = undefined;
  }
}
