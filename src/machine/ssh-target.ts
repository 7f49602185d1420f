import { ExitCode, SkiffError } from '../errors.js';
import type { SshEndpoint } from '../drivers/driver.js';
import { loadSshTarget, type SshTarget } from '../ssh/connect.js';
import type { Machine } from './machine.js';
import { isRemote } from './config.js';
import { remoteSshTarget } from '../remote/login.js';
import { machineFlag } from '../layout/paths.js';

/**
 * The guest's root login: the forwarded port, the machine's key, the host key
 * pinned at init. A remote host's: its user, its identity or the SSH agent.
 */
export function machineSshTarget(m: Machine, endpoint: SshEndpoint): Promise<SshTarget> {
  if (isRemote(m.config)) return remoteSshTarget(m.paths, m.config.remote);
  return loadSshTarget({ ...endpoint, user: 'root', keyPath: m.paths.sshKey, hostPubPath: m.paths.hostPub });
}

/** The same for a machine that must be running now (a VM); a stopped one is an error that says how to start it. */
export async function runningMachineSshTarget(m: Machine): Promise<SshTarget> {
  // A remote host runs whether or not skiff is connected to it.
  if (isRemote(m.config)) return remoteSshTarget(m.paths, m.config.remote);
  const endpoint = (await m.driver.state()) === 'running' ? await m.driver.sshEndpoint() : undefined;
  if (!endpoint) {
    throw new SkiffError('not-running', `machine "${m.name}" is not running`, {
      hint: `start it with: skiff start${machineFlag(m.name)}`,
      exitCode: ExitCode.conflict,
    });
  }
  return machineSshTarget(m, endpoint);
}
