import type { Driver, DriverName, MachineSpec } from './driver.js';

/**
 * Loaded on demand: commands like shellinit and list should not pay for parsing
 * a driver they do not use.
 */
export async function loadDriver(name: Exclude<DriverName, 'ssh'>, spec: MachineSpec): Promise<Driver> {
  switch (name) {
    case 'qemu': {
      const { QemuDriver } = await import('./qemu/driver.js');
      return new QemuDriver(spec);
    }
    case 'virtualbox': {
      const { VirtualBoxDriver } = await import('./virtualbox/driver.js');
      return new VirtualBoxDriver(spec);
    }
  }
}
