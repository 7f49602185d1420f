import type { Ora } from 'ora';
import type { Progress, StageTiming } from '../progress.js';

type OraFactory = typeof import('ora').default;

/**
 * A spinner that walks through named stages and remembers how long each took,
 * for `start --timings`. Silent (but still timing) when not interactive.
 */
export class StageReporter implements Progress {
  private spinner: Ora | undefined;
  private current: { name: string; at: number } | undefined;
  readonly timings: StageTiming[] = [];
  private readonly t0 = performance.now();

  private constructor(
    private readonly interactive: boolean,
    private readonly color: boolean,
    private readonly ora: OraFactory | undefined,
    private readonly stream: NodeJS.WriteStream,
  ) {}

  /**
   * ora (and its dependencies) is loaded only when a spinner will be shown. A
   * terminal that reports no width (a pty nobody sized, e.g. `script` in CI) gets
   * one plain line per stage instead: ora divides by the width to count the lines
   * it must clear, and at width 0 every frame wrote megabytes.
   */
  static async create(interactive: boolean, color: boolean, stream: NodeJS.WriteStream = process.stderr): Promise<StageReporter> {
    const spin = interactive && (stream.columns ?? 0) > 0;
    const ora = spin ? (await import('ora')).default : undefined;
    return new StageReporter(interactive, color, ora, stream);
  }

  stage(name: string, text = name): void {
    this.finishCurrent();
    this.current = { name, at: performance.now() };
    if (!this.ora) {
      if (this.interactive) this.stream.write(`${text}...\n`);
      return;
    }
    // discardStdin off: ora would swallow what the user types ahead of a question (init's host key).
    if (!this.spinner) this.spinner = this.ora({ text, stream: this.stream, color: this.color ? 'cyan' : false, isEnabled: true, discardStdin: false }).start();
    else this.spinner.text = text;
  }

  /** Prints a line above the spinner without breaking it. */
  notice(text: string): void {
    if (!this.interactive) return;
    if (this.spinner) {
      this.spinner.clear();
      this.stream.write(text + '\n');
      this.spinner.render();
    } else this.stream.write(text + '\n');
  }

  /** Takes the spinner off the terminal (for a question); the next stage brings it back. */
  pause(): void {
    this.spinner?.stop();
    this.spinner = undefined;
  }

  succeed(text: string): void {
    this.finishCurrent();
    if (this.spinner) this.spinner.succeed(text);
    else if (this.interactive) this.stream.write(`${text}\n`);
    this.spinner = undefined;
  }

  fail(text?: string): void {
    this.finishCurrent();
    if (this.spinner) this.spinner.fail(text);
    else if (this.interactive && text !== undefined) this.stream.write(`${text}\n`);
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
