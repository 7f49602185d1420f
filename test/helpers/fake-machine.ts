import { mkdir } from 'node:fs/promises';
import { machinePaths } from '../../src/layout/paths.js';
import { saveMachineConfig, type MachineConfig } from '../../src/machine/config.js';
import { joinNetwork } from '../../src/network/membership.js';

/** A VM machine's config as init writes it, on private network `network` if given; nothing is created to boot. */
export async function fakeMachine(home: string, name: string, network?: string): Promise<void> {
  const p = machinePaths(home, name);
  await mkdir(p.dir, { recursive: true });
  const config: MachineConfig = {
    version: 1,
    name,
    driver: 'qemu',
    arch: 'x86_64',
    cpus: 1,
    memoryMiB: 1024,
    diskGiB: 2,
    image: { source: 'test', sha256: '0'.repeat(64), path: '/nonexistent.iso' },
    shares: [],
    binfmt: false,
    watch: true,
    ...(network ? { network: { ...(await joinNetwork(home, network, name)) } } : {}),
    createdAt: new Date().toISOString(),
  };
  await saveMachineConfig(p.config, config);
}
