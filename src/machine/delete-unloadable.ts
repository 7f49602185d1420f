import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { stopAgent } from '../agent/control.js';
import { leaveNetworks } from '../network/membership.js';
import { removeDockerContext } from '../shell/docker-context.js';
import { processCommandLine } from '../util/process-alive.js';
import { waitUntil } from '../util/wait-until.js';
import { withMachineLock } from './lock.js';
import { machinePaths, machinesDir } from './paths.js';

/**
 * Deletes a machine whose config cannot be read (corrupt, torn by a crash), so the
 * "remove it with `skiff delete`" hint of that error is true. Without a config the
 * driver is unknown: a QEMU of this machine is found by its QMP socket in the runtime
 * dir and killed; nothing else is signalled.
 */
export async function deleteUnloadableMachine(home: string, name: string): Promise<{ killedVm: boolean }> {
  const paths = machinePaths(home, name);
  return withMachineLock(machinesDir(home), name, async () => {
    await stopAgent(paths);
    const killedVm = await killOwnQemu(paths.runDir);
    await rm(paths.config, { force: true });
    await rm(paths.dir, { recursive: true, force: true });
    await rm(paths.runDir, { recursive: true, force: true });
    await removeDockerContext(name);
    await leaveNetworks(home, name);
    return { killedVm };
  });
}

async function killOwnQemu(runDir: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(path.join(runDir, 'qemu.pid'), 'utf8')).trim(), 10);
  } catch {
    return false;
  }
  const qmp = path.resolve(runDir, 'qmp.sock');
  const ours = async () => ((await processCommandLine(pid)) ?? '').includes(qmp);
  if (!Number.isInteger(pid) || pid <= 0 || !(await ours())) return false;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return false;
  }
  await waitUntil(async () => !(await ours()), { timeoutMs: 10_000 });
  return true;
}
