import { parseArgs } from 'node:util';
import { machineFlag, skiffHome, validateMachineName } from '../layout/paths.js';
import { shellinit } from '../shell/shellinit.js';
import { reportError } from '../ui/output.js';

/**
 * `skiff shellinit` runs in every new terminal, so it skips yargs (and everything
 * else the other commands load): the whole path is node:util's parseArgs, a few
 * path computations and two stat calls. Returns false when the arguments need the
 * full CLI (help, unknown flags), which then handles them with its usual messages.
 */
export function tryFastShellinit(args: string[]): boolean {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        machine: { type: 'string', short: 'm' },
        home: { type: 'string' },
        shell: { type: 'string' },
        unset: { type: 'boolean', short: 'u' },
        json: { type: 'boolean' },
        debug: { type: 'boolean' },
      },
    });
  } catch {
    return false;
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1 || (positionals[0] !== 'shellinit' && positionals[0] !== 'env') || values.json) return false;
  try {
    const name = validateMachineName(values.machine ?? 'default');
    const r = shellinit({
      home: skiffHome(values.home),
      name,
      ...(values.shell !== undefined ? { shell: values.shell } : {}),
      unset: values.unset ?? false,
      env: process.env,
      platform: process.platform,
    });
    if (!values.unset && !r.socketExists && process.stderr.isTTY) {
      process.stderr.write(`warning: machine "${name}" is not running; start it with: skiff start${machineFlag(name)}\n`);
    }
    process.stdout.write(r.text);
  } catch (e) {
    process.exitCode = reportError(e, { json: false, debug: values.debug ?? false });
  }
  return true;
}
