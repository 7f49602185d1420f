import { rm } from 'node:fs/promises';
import { stopAgent } from '../agent/control.js';
import { leaveNetworks } from '../network/membership.js';
import { removeDockerContext } from '../shell/docker-context.js';
import type { Machine } from './machine.js';

/** Removes everything of the machine: VM, disk, keys, logs, sockets, docker context. */
export async function deleteMachine(m: Machine): Promise<void> {
  await m.lock(async () => {
    await stopAgent(m.paths);
    await m.driver.remove();
    // The config goes first: a crash past this point leaves a leftover that the next
    // init clears, never a machine that looks whole but has no disk.
    await rm(m.paths.config, { force: true });
    await rm(m.paths.dir, { recursive: true, force: true });
    await rm(m.paths.runDir, { recursive: true, force: true });
    await removeDockerContext(m.name);
    // Last: an address is freed only once nothing can boot with it any more.
    await leaveNetworks(m.home, m.name);
  });
}
