import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isAgentProcess, pidAlive } from '../agent/process.js';
import { agentSpecPath } from '../agent/spec-path.js';
import { enginePing } from '../machine/engine.js';
import { machinePaths, skiffHome, validateMachineName } from '../layout/paths.js';
import { contextName } from '../shell/docker-context.js';

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
  const specFile = agentSpecPath({ pidPath: paths.agentPid });
  try {
    const pid = Number((await readFile(paths.agentPid, 'utf8')).trim());
    if (!pidAlive(pid) || !(await isAgentProcess(pid, specFile))) return false;
    if (!(await enginePing(paths.dockerSocket, 1000))) return false;
    const spec = JSON.parse(await readFile(specFile, 'utf8')) as { sshHost: string; sshPort: number };
    const ms = Math.round(performance.now() - t0);
    if (values.json) {
      const result = {
        name: paths.name,
        alreadyRunning: true,
        socket: paths.dockerSocket,
        dockerHost: `unix://${paths.dockerSocket}`,
        context: contextName(paths.name),
        ssh: { host: spec.sshHost, port: spec.sshPort },
        timings: [{ stage: 'total', ms }],
        sharesNotMounted: [],
      };
      process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    } else {
      if (process.stderr.isTTY) process.stderr.write(`Machine "${paths.name}" is already running\n`);
      if (values.timings) process.stdout.write(`${'total'.padEnd(10)} ${(ms / 1000).toFixed(2)} s\n`);
    }
    return true;
  } catch {
    return false;
  }
}
