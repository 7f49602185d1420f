import { rm } from 'node:fs/promises';
import { stopAgent } from '../agent/control.js';
import { qemuRuntimeFiles } from '../drivers/qemu/state-file.js';
import { leaveNetworks } from '../network/membership.js';
import { removeDockerContext } from '../shell/docker-context.js';
import { readPidFile } from '../util/pid-file.js';
import { processCommandLine } from '../util/process-alive.js';
import { waitUntil } from '../util/wait.js';
import { withMachineLock } from './lock.js';
import { machinePaths, machinesDir } from '../layout/paths.js';

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
  const { pidFile, qmpSocket } = qemuRuntimeFiles(runDir);
  const pid = await readPidFile(pidFile);
  if (pid === undefined) return false;
  const ours = async () => ((await processCommandLine(pid)) ?? '').includes(qmpSocket);
  if (!(await ours())) return false;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return false;
  }
  await waitUntil(async () => !(await ours()), { timeoutMs: 10_000 });
  return true;
}
