import { rm } from 'node:fs/promises';
import { stopAgent } from '../agent/control.js';
import { leaveNetworks } from '../network/membership.js';
import { removeDockerContext } from '../shell/docker-context.js';
import { SkiffError } from '../errors.js';
import { Machine } from './machine.js';

/** What `delete` acts on: a loaded machine, or one whose config is unreadable. */
export interface DeleteTarget {
  name: string;
  /** Undefined when the config is corrupt: the machine is then removed by its paths alone. */
  machine?: Machine;
}

/**
 * Finds the machine to delete before anything is asked or removed (an unknown
 * name fails here). A corrupt config must not make a machine undeletable (its
 * error says to delete it), but without a config there is nothing to show the
 * user, so that path is taken only when the deletion is already confirmed.
 */
export async function findDeleteTarget(home: string, name: string, opts: { confirmed: boolean }): Promise<DeleteTarget> {
  try {
    return { name, machine: await Machine.load(home, name) };
  } catch (e) {
    if (!(e instanceof SkiffError && e.code === 'config-corrupt') || !opts.confirmed) throw e;
    return { name };
  }
}

/** Deletes what findDeleteTarget found. */
export async function deleteTarget(home: string, t: DeleteTarget): Promise<void> {
  if (t.machine) await deleteMachine(t.machine);
  else await (await import('./delete-unloadable.js')).deleteUnloadableMachine(home, t.name);
}

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
