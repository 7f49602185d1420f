import { rm } from 'node:fs/promises';
import { stopAgent } from '../agent/control.js';
import { endLeftoverVm } from '../drivers/leftovers.js';
import { leaveNetworks } from '../network/membership.js';
import { removeDockerContext } from '../shell/docker-context.js';
import { withMachineLock } from './lock.js';
import { machinePaths, machinesDir } from '../layout/paths.js';

/**
 * Deletes a machine whose config cannot be read (corrupt, torn by a crash), so the
 * "remove it with `skiff delete`" hint of that error is true. Without a config the
 * driver is unknown: the drivers end what they can prove is this machine's VM.
 */
export async function deleteUnloadableMachine(home: string, name: string): Promise<{ killedVm: boolean }> {
  const paths = machinePaths(home, name);
  return withMachineLock(machinesDir(home), name, async () => {
    await stopAgent(paths);
    const killedVm = await endLeftoverVm(paths);
    await rm(paths.config, { force: true });
    await rm(paths.dir, { recursive: true, force: true });
    await rm(paths.runDir, { recursive: true, force: true });
    await removeDockerContext(name);
    await leaveNetworks(home, name);
    return { killedVm };
  });
}
