import { createOutput, reportError, type Output } from '../ui/output.js';
import { skiffHome, validateMachineName } from '../layout/paths.js';

/** The options every command takes. */
export interface GlobalArgs {
  machine: string;
  home?: string;
  json: boolean;
  debug: boolean;
}

export interface CommandContext {
  home: string;
  name: string;
  out: Output;
}

export function contextFrom(argv: GlobalArgs): CommandContext {
  const out = createOutput({ json: argv.json, debug: argv.debug });
  return { home: skiffHome(argv.home), name: validateMachineName(argv.machine), out };
}

/**
 * Wraps a command handler: every failure becomes one clear message and an exit
 * code, never a stack trace (unless --debug).
 */
export function action<A extends GlobalArgs>(fn: (argv: A, ctx: CommandContext) => Promise<void>) {
  return async (argv: A): Promise<void> => {
    try {
      await fn(argv, contextFrom(argv));
    } catch (e) {
      process.exitCode = reportError(e, { json: Boolean(argv.json), debug: Boolean(argv.debug) });
    }
  };
}

export { machineFlag } from '../layout/paths.js';
