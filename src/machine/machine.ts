import os from 'node:os';
import type { Driver, MachineSpec, Share } from '../drivers/driver.js';
import { loadDriver } from '../drivers/index.js';
import { isRemote, loadMachineConfig, type MachineConfig, type VmConfig } from './config.js';
import { machinePaths, machinesDir, type MachinePaths } from '../layout/paths.js';
import { withMachineLock, type LockOptions } from './lock.js';

/** One machine: its paths, its config and the driver that runs it. */
export class Machine {
  private constructor(
    readonly home: string,
    readonly paths: MachinePaths,
    readonly config: MachineConfig,
    readonly driver: Driver,
  ) {}

  static async load(home: string, name: string): Promise<Machine> {
    const paths = machinePaths(home, name);
    const config = await loadMachineConfig(paths.config, name);
    return Machine.fromConfig(home, paths, config);
  }

  /** The machine, or undefined when it does not exist (no config: never made, or an interrupted init). */
  static async find(home: string, name: string): Promise<Machine | undefined> {
    try {
      return await Machine.load(home, name);
    } catch (e) {
      if ((e as { code?: string }).code === 'no-machine') return undefined;
      throw e;
    }
  }

  static async fromConfig(home: string, paths: MachinePaths, config: MachineConfig): Promise<Machine> {
    const driver = isRemote(config)
      ? new (await import('../drivers/ssh/driver.js')).SshHostDriver({ name: paths.name, paths, remote: config.remote })
      : await loadDriver(config.driver, specFor(paths, config));
    return new Machine(home, paths, config, driver);
  }

  get name(): string {
    return this.paths.name;
  }

  lock<T>(fn: () => Promise<T>, opts?: LockOptions): Promise<T> {
    return withMachineLock(machinesDir(this.home), this.name, fn, opts);
  }
}

export function sharesFor(config: Pick<MachineConfig, 'shares'>): Share[] {
  return config.shares.map((s, i) => ({ ...s, tag: `share${i}` }));
}

export function specFor(paths: MachinePaths, config: VmConfig): MachineSpec {
  return {
    name: paths.name,
    paths,
    cpus: config.cpus,
    memoryMiB: config.memoryMiB,
    diskGiB: config.diskGiB,
    arch: config.arch,
    isoPath: config.image.path,
    shares: sharesFor(config),
    ...(config.shareFs !== undefined ? { shareFs: config.shareFs } : {}),
    binfmt: config.binfmt,
    ...(config.network
      ? { privateNic: { mac: config.network.mac, mcastGroup: config.network.mcastGroup, mcastPort: config.network.mcastPort, intnet: config.network.intnet } }
      : {}),
  };
}

export function userHome(): string | undefined {
  try {
    return os.homedir();
  } catch {
    return undefined;
  }
}
