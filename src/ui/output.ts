import { ExitCode, isSkiffError, SkiffError } from '../errors.js';

/**
 * How a command talks to the user. Data goes to stdout; everything for a human
 * (progress, notices) goes to stderr and only when stderr is a terminal and
 * --json is off, so pipes and scripts see nothing but data.
 */
export interface Output {
  json: boolean;
  debug: boolean;
  /** Spinners, bars and notices are shown. */
  interactive: boolean;
  color: boolean;
  /** A line for a human on stderr (interactive only). */
  note(message: string): void;
  /** A warning: on stderr even off a TTY (never with --json), since it may explain a failure. */
  warn(message: string): void;
  /** The command's result: JSON with --json, else the human rendering. */
  result(data: unknown, human: () => string): void;
}

export function useColor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export function createOutput(opts: { json: boolean; debug: boolean }): Output {
  const interactive = !opts.json && Boolean(process.stderr.isTTY);
  const color = interactive && useColor(process.stderr);
  const yellow = (s: string) => (color ? `\u001b[33m${s}\u001b[39m` : s);
  return {
    json: opts.json,
    debug: opts.debug,
    interactive,
    color,
    note(message) {
      if (interactive) process.stderr.write(message + '\n');
    },
    warn(message) {
      if (!opts.json) process.stderr.write(yellow('warning: ') + message + '\n');
    },
    result(data, human) {
      if (opts.json) process.stdout.write(JSON.stringify(data, null, 2) + '\n');
      else {
        const text = human();
        if (text) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
      }
    },
  };
}

/** Prints an error the way every command does, and returns the exit code to use. */
export function reportError(e: unknown, opts: { json: boolean; debug: boolean }): number {
  const color = !opts.json && useColor(process.stderr);
  const red = (s: string) => (color ? `\u001b[31m${s}\u001b[39m` : s);
  const err: SkiffError = isSkiffError(e)
    ? e
    : new SkiffError('internal', `unexpected error: ${e instanceof Error ? e.message : String(e)}`, {
        hint: 'this is a bug in skiff; run again with --debug and report the output',
        exitCode: ExitCode.failure,
      });
  if (opts.json) {
    process.stdout.write(JSON.stringify({ error: { code: err.code, message: err.message, hint: err.hint } }) + '\n');
  } else {
    process.stderr.write(`${red('skiff: error:')} ${err.message}\n`);
    if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
  }
  if (opts.debug || !isSkiffError(e)) {
    const stack = e instanceof Error ? e.stack : undefined;
    if (stack && (opts.debug || !isSkiffError(e))) process.stderr.write(stack + '\n');
    let cause = e instanceof Error ? (e.cause as unknown) : undefined;
    while (opts.debug && cause instanceof Error) {
      process.stderr.write(`caused by: ${cause.stack ?? cause.message}\n`);
      cause = cause.cause;
    }
  }
  return err.exitCode;
}
