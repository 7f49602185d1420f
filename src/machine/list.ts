import { readVmEnd } from '../agent/vm-end.js';
import { errorMessage } from '../errors.js';
import type { SavedState } from '../drivers/driver.js';
import type { PauseReason } from '../drivers/pause.js';
import { isRemote } from './config.js';
import { Machine } from './machine.js';
import { machineDirNames } from '../layout/machine-dirs.js';
import { pausedBecause } from './status.js';

export interface ListEntry {
  name: string;
  state: string;
  /** Why a paused machine is paused. */
  pausedFor?: PauseReason;
  /** A suspended machine's saved state. */
  suspended?: SavedState;
  driver?: string;
  arch?: string;
  cpus?: number;
  memoryMiB?: number;
  /** A remote host's login (the ssh driver): user@host:port. */
  host?: string;
  socket?: string;
  error?: string;
}

/** Every machine with a config; a broken one is listed with its error, not hidden. */
export async function listMachines(home: string): Promise<ListEntry[]> {
  const names = await machineDirNames(home);
  return Promise.all(
    names.map(async (name): Promise<ListEntry | undefined> => {
      try {
        const m = await Machine.find(home, name);
        if (!m) return undefined; // leftover of an interrupted init
        const state = await m.driver.state();
        const crashed = state === 'stopped' && (await readVmEnd(m.paths.vmEnd))?.kind === 'crashed';
        const paused = state === 'paused' ? await pausedBecause(m) : undefined;
        const suspended = state === 'suspended' ? await m.driver.savedState() : undefined;
        return {
          name,
          state: crashed ? 'crashed' : state,
          ...(paused ? { pausedFor: paused.reason } : {}),
          ...(suspended ? { suspended } : {}),
          driver: m.config.driver,
          arch: m.config.arch,
          ...(isRemote(m.config)
            ? { host: `${m.config.remote.user}@${m.config.remote.host}:${m.config.remote.port}` }
            : { cpus: m.config.cpus, memoryMiB: m.config.memoryMiB }),
          socket: m.paths.dockerSocket,
        };
      } catch (e) {
        return { name, state: 'error', error: errorMessage(e) };
      }
    }),
  ).then((l) => l.filter((e): e is ListEntry => e !== undefined));
}
