import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MachineConfigSchema, loadMachineConfig } from '../../src/machine/config.js';
import { mcastCarrierFor } from '../../src/network/carrier.js';
import { intnetField, ipv4Field, mcastGroupField, networkNameField } from '../../src/network/fields.js';
import { loadNetwork, networkFile } from '../../src/network/store.js';

/** A hand-edited file must not carry QEMU -netdev options (a comma) or paths into argv. */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-netfields-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const network = {
  name: 'swarm',
  address: '198.18.0.2',
  prefix: 24,
  mac: '02:53:4b:01:02:03',
  mcastGroup: '239.1.2.3',
  mcastPort: 23456,
  intnet: 'skiff-swarm-0123abcd',
};
const config = {
  version: 1,
  name: 'swarm-1',
  driver: 'qemu',
  arch: 'x86_64',
  cpus: 1,
  memoryMiB: 1024,
  diskGiB: 2,
  image: { source: 'x', sha256: '0'.repeat(64), path: '/x.iso' },
  network,
  createdAt: '2026-01-01T00:00:00Z',
};

describe('network fields', () => {
  it('accept what skiff itself writes', () => {
    for (const n of ['swarm', 'a', 'net_2', 'x'.repeat(28)]) {
      const c = mcastCarrierFor('/home/u/.skiff', n);
      expect(mcastGroupField.safeParse(c.group).success, c.group).toBe(true);
      expect(networkNameField.safeParse(n).success).toBe(true);
      expect(intnetField.safeParse(`skiff-${n}-0123abcd`).success).toBe(true);
    }
    expect(MachineConfigSchema.safeParse(config).success).toBe(true);
  });

  it('refuse injection, paths and out-of-range values', () => {
    expect(mcastGroupField.safeParse('239.1.2.3,localaddr=0.0.0.0').success).toBe(false);
    expect(mcastGroupField.safeParse('224.0.0.1').success).toBe(false);
    expect(mcastGroupField.safeParse('239.1.2.256').success).toBe(false);
    expect(ipv4Field.safeParse('198.18.0.2,x').success).toBe(false);
    expect(intnetField.safeParse('skiff-x,foo').success).toBe(false);
    expect(intnetField.safeParse('../../etc').success).toBe(false);
    expect(networkNameField.safeParse('a/b').success).toBe(false);
    expect(networkNameField.safeParse('Swarm').success).toBe(false);
  });
});

describe('a hand-edited file', () => {
  it('machine config with a comma in mcastGroup is corrupt, naming the field', async () => {
    const file = path.join(dir, 'config.yaml');
    await writeFile(file, YAML.stringify({ ...config, network: { ...network, mcastGroup: '239.1.2.3,fd=3' } }));
    await expect(loadMachineConfig(file, 'swarm-1')).rejects.toMatchObject({ code: 'config-corrupt', message: expect.stringContaining('network.mcastGroup') });
    await writeFile(file, YAML.stringify({ ...config, network: { ...network, intnet: 'x y' } }));
    await expect(loadMachineConfig(file, 'swarm-1')).rejects.toMatchObject({ code: 'config-corrupt', message: expect.stringContaining('network.intnet') });
    await writeFile(file, YAML.stringify({ ...config, network: { ...network, mcastPort: 70000 } }));
    await expect(loadMachineConfig(file, 'swarm-1')).rejects.toMatchObject({ code: 'config-corrupt' });
  });

  it('network file with a bad group, intnet, member or a name other than its own is corrupt', async () => {
    const home = path.join(dir, 'home');
    await mkdir(path.join(home, 'networks'), { recursive: true });
    const good = { version: 1, name: 'n', subnet: '198.18.0.0/24', mcast: { group: '239.1.2.3', port: 20000 }, intnet: 'skiff-n-0123abcd', members: { 'n-1': '198.18.0.2' }, createdAt: 'x' };
    const write = (v: unknown) => writeFile(networkFile(home, 'n'), YAML.stringify(v));
    await write(good);
    expect((await loadNetwork(home, 'n'))!.members).toEqual({ 'n-1': '198.18.0.2' });
    for (const bad of [
      { ...good, mcast: { group: '239.1.2.3,localaddr=1.2.3.4', port: 20000 } },
      { ...good, intnet: 'skiff/../x' },
      { ...good, members: { '../x': '198.18.0.2' } },
      { ...good, members: { 'n-1': '198.18.0.2,x' } },
      { ...good, subnet: '10.0.2.0/24' },
      { ...good, name: 'other' },
    ]) {
      await write(bad);
      await expect(loadNetwork(home, 'n'), JSON.stringify(bad)).rejects.toMatchObject({ code: 'network-corrupt' });
    }
  });
});
