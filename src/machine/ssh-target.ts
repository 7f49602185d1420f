import { ExitCode, SkiffError } from '../errors.js';
import type { SshEndpoint } from '../drivers/driver.js';
import { loadSshTarget, type SshTarget } from '../ssh/connect.js';
import type { Machine } from './machine.js';
import { machineFlag } from '../layout/paths.js';

/** The guest's root login: the forwarded port, the machine's key, the host key pinned at init. */
export function machineSshTarget(m: Machine, endpoint: SshEndpoint): Promise<SshTarget> {
  return loadSshTarget({ ...endpoint, user: 'root', keyPath: m.paths.sshKey, hostPubPath: m.paths.hostPub });
}

/** The same for a machine that must be running now; a stopped one is an error that says how to start it. */
export async function runningMachineSshTarget(m: Machine): Promise<SshTarget> {
  const endpoint = (await m.driver.state()) === 'running' ? await m.driver.sshEndpoint() : undefined;
  if (!endpoint) {
    throw new SkiffError('not-running', `machine "${m.name}" is not running`, {
      hint: `start it with: skiff start${machineFlag(m.name)}`,
      exitCode: ExitCode.conflict,
    });
  }
  return machineSshTarget(m, endpoint);
}
