import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SkiffError } from '../../src/errors.js';
import { guestSettings } from '../../src/machine/init.js';
import { mcastCarrierFor } from '../../src/network/carrier.js';
import { privateMac } from '../../src/network/mac.js';
import { joinNetwork, leaveNetwork, leaveNetworks, removeNetwork } from '../../src/network/membership.js';
import { loadNetwork, networkFile, saveNetwork } from '../../src/network/store.js';

let home: string;
beforeEach(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'skiff-net-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('private network addresses', () => {
  it('gives concurrent joins distinct addresses from one /24 outside 10/8', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `n-${i + 1}`);
    const got = await Promise.all(names.map((n) => joinNetwork(home, 'swarm', n)));
    const addrs = got.map((m) => m.address);
    expect(new Set(addrs).size).toBe(12);
    for (const a of addrs) expect(a).toMatch(/^198\.18\.0\.([2-9]|1[0-3])$/);
    const net = await loadNetwork(home, 'swarm');
    expect(Object.keys(net!.members).sort()).toEqual([...names].sort());
    expect(net!.subnet).toBe('198.18.0.0/24');
    // Every member sees the same carrier; the file says it too.
    expect(new Set(got.map((m) => `${m.mcastGroup}:${m.mcastPort}`)).size).toBe(1);
    expect(got[0]!.mcastGroup).toMatch(/^239\./);
    expect(YAML.parse(await readFile(networkFile(home, 'swarm'), 'utf8')).mcast).toEqual(mcastCarrierFor(home, 'swarm'));
  });

  it('keeps an address across joins, frees it on leave and reuses the lowest free one', async () => {
    const a = await joinNetwork(home, 'net', 'a');
    const b = await joinNetwork(home, 'net', 'b');
    expect((await joinNetwork(home, 'net', 'a')).address).toBe(a.address);
    await leaveNetworks(home, 'a');
    expect((await loadNetwork(home, 'net'))!.members).toEqual({ b: b.address });
    expect((await joinNetwork(home, 'net', 'c')).address).toBe(a.address);
  });

  it('gives each network its own subnet and a stable MAC per machine', async () => {
    const x = await joinNetwork(home, 'x', 'm');
    const y = await joinNetwork(home, 'y', 'm');
    expect(x.address.split('.').slice(0, 3)).not.toEqual(y.address.split('.').slice(0, 3));
    expect(x.mac).toBe(privateMac('x', 'm'));
    expect(x.mac).toMatch(/^02:53:4b(:[0-9a-f]{2}){3}$/);
    expect(x.mac).not.toBe(y.mac);
    expect(x.intnet).not.toBe(y.intnet);
  });

  it('refuses to remove a network that still has machines, then removes it', async () => {
    await joinNetwork(home, 'net', 'a');
    const e = await removeNetwork(home, 'net').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(SkiffError);
    expect((e as SkiffError).code).toBe('network-in-use');
    await joinNetwork(home, 'net', 'b');
    await leaveNetworks(home, 'a');
    expect(await removeNetwork(home, 'net').catch((err: unknown) => (err as SkiffError).code)).toBe('network-in-use');
    // A network file with no members (written by an older skiff) is removed too.
    const net = (await loadNetwork(home, 'net'))!;
    await saveNetwork(home, { ...net, members: {} });
    expect(await removeNetwork(home, 'net')).toBe(true);
    expect(await loadNetwork(home, 'net')).toBeUndefined();
  });

  it('removes a network whose last member leaves, so its /24 is given back', async () => {
    await joinNetwork(home, 'first', 'a');
    const second = await joinNetwork(home, 'second', 'b');
    expect(second.address).toMatch(/^198\.18\.1\./);
    await leaveNetworks(home, 'a');
    expect(await loadNetwork(home, 'first')).toBeUndefined();
    expect((await joinNetwork(home, 'third', 'c')).address).toMatch(/^198\.18\.0\./);
    await leaveNetwork(home, 'second', 'b');
    expect(await loadNetwork(home, 'second')).toBeUndefined();
  });

  it('leaveNetwork frees an address on that network only', async () => {
    const onX = await joinNetwork(home, 'x', 'm');
    await joinNetwork(home, 'y', 'm');
    await joinNetwork(home, 'y', 'other');
    await leaveNetwork(home, 'y', 'm');
    expect((await loadNetwork(home, 'x'))!.members).toEqual({ m: onX.address });
    expect(Object.keys((await loadNetwork(home, 'y'))!.members)).toEqual(['other']);
    // Leaving a network one is not on, or one that does not exist, changes nothing.
    await leaveNetwork(home, 'y', 'nobody');
    await leaveNetwork(home, 'zzz', 'm');
    expect((await loadNetwork(home, 'x'))!.members).toEqual({ m: onX.address });
  });

  it('rejects a bad network name before writing anything', async () => {
    await expect(joinNetwork(home, '../x', 'a')).rejects.toMatchObject({ code: 'invalid-network' });
    expect(await loadNetwork(home, 'x')).toBeUndefined();
  });

  it('hands the guest its address, MAC and Docker-managed iptables in settings.env', async () => {
    const m = await joinNetwork(home, 'swarm', 'swarm-1');
    expect(guestSettings({ name: 'swarm-1', network: m, binfmt: false })).toEqual({
      SKIFF_HOSTNAME: 'swarm-1',
      SKIFF_NET_NAME: 'swarm',
      SKIFF_NET_MAC: m.mac,
      SKIFF_NET_ADDR: `${m.address}/24`,
      SKIFF_NAT: 'docker',
    });
    expect(guestSettings({ name: 'plain', binfmt: false })).toEqual({ SKIFF_HOSTNAME: 'plain' });
    expect(guestSettings({ name: 'arm', binfmt: true })).toEqual({ SKIFF_HOSTNAME: 'arm', SKIFF_BINFMT: '1' });
  });
});
