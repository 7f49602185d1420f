import { parseArgs } from 'node:util';
import { liveAgentEndpoint } from '../agent/serving.js';
import { enginePing } from '../machine/engine.js';
import type { StartResult } from '../machine/start.js';
import { machinePaths, skiffHome, validateMachineName } from '../layout/paths.js';
import { contextName } from '../shell/docker-context.js';
import { startResultJson } from './start-result.js';

/**
 * `skiff start` on a machine that already runs is the common case (scripts and
 * shell profiles call it every time), so it is answered without yargs, the config
 * schema or the driver: our agent is alive and the engine answers /_ping through
 * its socket, which can only happen when the VM runs. Anything else — a flag this
 * path does not know, a machine not running, an agent not healthy — returns false
 * and the full command takes over, with its lock, checks and messages.
 */
export async function tryFastStart(args: string[]): Promise<boolean> {
  let values;
  try {
    ({ values } = parseArgs({
      args: args.slice(1),
      strict: true,
      options: {
        machine: { type: 'string', short: 'm' },
        home: { type: 'string' },
        json: { type: 'boolean' },
        timings: { type: 'boolean' },
      },
    }));
  } catch {
    return false;
  }
  const t0 = performance.now();
  let paths;
  try {
    paths = machinePaths(skiffHome(values.home), validateMachineName(values.machine ?? 'default'));
  } catch {
    return false;
  }
  try {
    const ssh = await liveAgentEndpoint(paths);
    if (!ssh) return false;
    if (!(await enginePing(paths.dockerSocket, 1000))) return false;
    const ms = Math.round(performance.now() - t0);
    if (values.json) {
      const r: StartResult = { alreadyRunning: true, socket: paths.dockerSocket, ssh, timings: [], context: contextName(paths.name), sharesNotMounted: [] };
      process.stdout.write(JSON.stringify(startResultJson(paths.name, r, [{ stage: 'total', ms }]), null, 2) + '\n');
    } else {
      if (process.stderr.isTTY) process.stderr.write(`Machine "${paths.name}" is already running\n`);
      if (values.timings) process.stdout.write(`${'total'.padEnd(10)} ${(ms / 1000).toFixed(2)} s\n`);
    }
    return true;
  } catch {
    return false;
  }
}
