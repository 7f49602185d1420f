/**
 * The one error type users see. `message` is a single line saying what went wrong,
 * `hint` says what to do about it, `exitCode` is what the process exits with.
 * Anything that is not a SkiffError is a bug and is reported with its stack.
 */
export class SkiffError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: number;
  readonly code: string;

  constructor(
    code: string,
    message: string,
    opts: { hint?: string; exitCode?: number; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SkiffError';
    this.code = code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 1;
  }
}

/** Exit codes, so scripts can tell usage mistakes from environment trouble. */
export const ExitCode = {
  failure: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  environment: 5,
  network: 6,
} as const;

export function isSkiffError(e: unknown): e is SkiffError {
  return e instanceof SkiffError;
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
