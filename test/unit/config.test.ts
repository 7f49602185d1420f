import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadMachineConfig, VmConfigSchema, readUserSettingsFile, saveMachineConfig, validateUserSettings, type MachineConfig } from '../../src/machine/config.js';
import { buildConfig } from '../../src/machine/init.js';
import { validateMachineName } from '../../src/layout/paths.js';
import { parseSizeMiB } from '../../src/machine/size.js';
import { defaultShares, resolveShares } from '../../src/machine/shares.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'skiff-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('machine names', () => {
  it.each(['default', 'dev-1', 'a', 'x_y', '0box'])('accepts %s', (n) => expect(validateMachineName(n)).toBe(n));
  it.each(['', '../x', 'a/b', '..', '.hidden', 'A', 'a b', 'x'.repeat(33), '-x', 'a\u0000b', 'é'])('refuses %j', (n) => {
    expect(() => validateMachineName(n)).toThrow(/invalid machine name/);
  });
});

describe('sizes', () => {
  it.each([
    ['2048', 'm', 2048],
    ['2G', 'm', 2048],
    ['2GiB', 'm', 2048],
    ['512M', 'm', 512],
    ['1.5g', 'm', 1536],
    ['20', 'g', 20480],
    ['20G', 'g', 20480],
    [4096, 'm', 4096],
  ] as const)('%s (bare unit %s) is %d MiB', (input, unit, want) => expect(parseSizeMiB(input, unit, 'x')).toBe(want));
  it.each(['', 'abc', '-1', '2X', '1e3', '2 GB extra'])('refuses %j', (input) => {
    expect(() => parseSizeMiB(input, 'm', 'memory size')).toThrow(/invalid memory size/);
  });
});

describe('settings', () => {
  it('fills defaults and converts sizes', () => {
    const c = buildConfig('dev', { cpus: 4, memory: '4G', disk: '30G', driver: 'virtualbox' }, undefined);
    expect(c).toMatchObject({ name: 'dev', cpus: 4, memoryMiB: 4096, diskGiB: 30, driver: 'virtualbox' });
  });
  it('binfmt is off unless asked for; --arch and --binfmt reach the config', () => {
    expect(buildConfig('x', {}, undefined).binfmt).toBe(false);
    const c = buildConfig('x', validateUserSettings({ arch: 'aarch64', binfmt: true }, 'options'), undefined);
    expect(c).toMatchObject({ arch: 'aarch64', binfmt: true });
  });
  it('file watching is on unless switched off (--no-watch, watch: false in YAML)', () => {
    expect(buildConfig('x', {}, undefined).watch).toBe(true);
    expect(buildConfig('x', validateUserSettings({ watch: false }, 'options'), undefined).watch).toBe(false);
    expect(() => validateUserSettings({ watch: 'sometimes' }, 'options')).toThrow(/watch/);
  });
  it('shares ride 9p unless --share-fs (shareFs in YAML) names virtiofs, which only QEMU machines take', () => {
    expect(buildConfig('x', {}, undefined)).not.toHaveProperty('shareFs');
    expect(buildConfig('x', validateUserSettings({ shareFs: 'virtiofs' }, 'options'), undefined).shareFs).toBe('virtiofs');
    expect(buildConfig('x', validateUserSettings({ shareFs: '9p', driver: 'qemu' }, 'options'), undefined).shareFs).toBe('9p');
    expect(() => validateUserSettings({ shareFs: 'nfs' }, 'options')).toThrow(/invalid options: .*shareFs/);
    expect(() => buildConfig('x', { shareFs: 'virtiofs', driver: 'virtualbox' }, undefined)).toThrow(/^share-fs virtiofs is for the qemu driver; VirtualBox serves shares with its own vboxsf$/);
  });
  it.each([
    [{ cpus: 0 }, /cpus/],
    [{ cpus: 'many' }, /cpus/],
    [{ cpus: 65 }, /cpus/],
    [{ driver: 'hyperv' }, /driver/],
    [{ arch: 'mips' }, /arch/],
    [{ binfmt: 'yes' }, /binfmt/],
    [{ colour: 'red' }, /colour|unrecognized/i],
  ])('refuses %j', (raw, re) => expect(() => validateUserSettings(raw, 'options')).toThrow(re));
  it.each([
    [{ memory: '256M' }, /memory 256 MiB is out of range/],
    [{ memory: 'lots' }, /invalid memory size/],
    [{ disk: '1G' }, /disk size 1G is out of range/],
    [{ disk: '1.5G' }, /not whole GiB/],
  ])('refuses sizes %j', (s, re) => expect(() => buildConfig('x', s, undefined)).toThrow(re));

  it('reads a YAML settings file and reports bad YAML in one line', async () => {
    const good = path.join(dir, 'good.yaml');
    writeFileSync(good, 'cpus: 3\nmemory: 3G\nshares:\n  - /srv/data:/data:ro\n');
    expect(await readUserSettingsFile(good)).toEqual({ cpus: 3, memory: '3G', shares: ['/srv/data:/data:ro'] });
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'cpus: [1\n');
    await expect(readUserSettingsFile(bad)).rejects.toThrow(/not valid YAML/);
    await expect(readUserSettingsFile(path.join(dir, 'missing.yaml'))).rejects.toThrow(/cannot read config file/);
  });
});

describe('shares', () => {
  it('parses HOST[:GUEST][:ro]', () => {
    expect(resolveShares(['/a', '/b:/c', '/d:ro', '/e:/f:ro'], [])).toEqual([
      { hostPath: '/a', guestPath: '/a', readOnly: false },
      { hostPath: '/b', guestPath: '/c', readOnly: false },
      { hostPath: '/d', guestPath: '/d', readOnly: true },
      { hostPath: '/e', guestPath: '/f', readOnly: true },
    ]);
    expect(resolveShares(false, [{ hostPath: '/h', guestPath: '/h', readOnly: false }])).toEqual([]);
  });
  it.each(['relative', '/a:relative', '/a:/b:/c'])('refuses %j', (s) => expect(() => resolveShares([s], [])).toThrow(/invalid share/));
  it.each(['/x:/root', '/etc', '/y:/var/lib/docker', '/z:/', '/w:/mnt/data/docker'])('refuses %j: the guest needs that path', (s) => {
    expect(() => resolveShares([s], [])).toThrow(/the guest needs that path itself/);
  });
  it('takes \\: for a colon and \\\\ for a backslash inside a path; spaces, quotes and non-ASCII as they are', () => {
    expect(resolveShares(['/srv/a\\:b c:/data/x\\:y:ro', "/home/Jane Doe.t/it's \"q\" ü", '/back\\\\slash'], [])).toEqual([
      { hostPath: '/srv/a:b c', guestPath: '/data/x:y', readOnly: true },
      { hostPath: "/home/Jane Doe.t/it's \"q\" ü", guestPath: "/home/Jane Doe.t/it's \"q\" ü", readOnly: false },
      { hostPath: '/back\\slash', guestPath: '/back\\slash', readOnly: false },
    ]);
  });
  it('takes the YAML form as it is, colons included', () => {
    expect(resolveShares([{ hostPath: '/a:b', guestPath: '/c:d/', readOnly: true }], [])).toEqual([{ hostPath: '/a:b', guestPath: '/c:d', readOnly: true }]);
  });
  it.each(['/a\\b', '/a\\', '/a\nb', '/a:/b\tc', '/a\x7f'])('refuses %j (bad escape or control character)', (s) => {
    expect(() => resolveShares([s], [])).toThrow(/invalid share .*(backslash|control character)/);
  });
  it('refuses two shares on one guest path', () => {
    expect(() => resolveShares(['/a:/x', '/b:/x/'], [])).toThrow(/two shares \(\/a and \/b\) are mounted on \/x/);
  });
  it('refuses a control character in a hand-edited machine config', () => {
    const shares = VmConfigSchema.shape.shares;
    expect(shares.safeParse([{ hostPath: '/a b', guestPath: '/a:b', readOnly: false }]).success).toBe(true);
    expect(shares.safeParse([{ hostPath: '/a\nb', guestPath: '/a', readOnly: false }]).success).toBe(false);
  });
  it("shares the user's home by default, unless it is root's /root", () => {
    expect(defaultShares('/home/Jane Doe.t')).toEqual([{ hostPath: '/home/Jane Doe.t', guestPath: '/home/Jane Doe.t', readOnly: false }]);
    expect(defaultShares('/home/me')).toEqual([{ hostPath: '/home/me', guestPath: '/home/me', readOnly: false }]);
    expect(defaultShares('/Users/me')).toHaveLength(1);
    expect(defaultShares('/root')).toEqual([]);
    expect(defaultShares(undefined)).toEqual([]);
  });
});

describe('stored config', () => {
  const file = path.join(dir, 'config.yaml');
  const config: MachineConfig = {
    version: 1,
    name: 'dev',
    driver: 'qemu',
    arch: 'x86_64',
    cpus: 2,
    memoryMiB: 2048,
    diskGiB: 20,
    image: { source: 'local build', sha256: 'a'.repeat(64), path: '/x/skiff-amd64.iso' },
    shares: [],
    binfmt: false,
    watch: true,
    createdAt: '2026-11-25T00:00:00.000Z',
  };
  it('round-trips', async () => {
    await saveMachineConfig(file, config);
    expect(await loadMachineConfig(file, 'dev')).toEqual(config);
  });
  it.each([
    ['', /corrupt/],
    ['cpus: [', /corrupt/],
    ['version: 1\nname: dev\n', /corrupt: .*driver/],
  ])('reports a corrupt config %j as such, not a crash', async (text, re) => {
    const f = path.join(dir, 'broken.yaml');
    writeFileSync(f, text);
    await expect(loadMachineConfig(f, 'dev')).rejects.toThrow(re);
  });
  it('a config written before binfmt existed loads with binfmt off', async () => {
    const f = path.join(dir, 'old.yaml');
    const { binfmt: _, ...old } = config;
    writeFileSync(f, JSON.stringify(old));
    expect((await loadMachineConfig(f, 'dev')).binfmt).toBe(false);
  });
  it('a config written before watch existed loads with watching on (the default), and watch: false is kept', async () => {
    const f = path.join(dir, 'old-watch.yaml');
    const { watch: _, ...old } = config;
    writeFileSync(f, JSON.stringify(old));
    expect((await loadMachineConfig(f, 'dev')).watch).toBe(true);
    await saveMachineConfig(f, { ...config, watch: false });
    expect((await loadMachineConfig(f, 'dev')).watch).toBe(false);
  });
  it('keeps a shareFs setting through save and load; a config without one loads without one', async () => {
    const f = path.join(dir, 'vfs.yaml');
    await saveMachineConfig(f, { ...config, shareFs: 'virtiofs' });
    expect(await loadMachineConfig(f, 'dev')).toMatchObject({ shareFs: 'virtiofs' });
    await saveMachineConfig(f, config);
    expect(await loadMachineConfig(f, 'dev')).not.toHaveProperty('shareFs');
    writeFileSync(f, JSON.stringify({ ...config, shareFs: 'nfs' }));
    await expect(loadMachineConfig(f, 'dev')).rejects.toThrow(/corrupt: .*shareFs/);
  });
  it('keeps binfmt: true and arch aarch64 through save and load', async () => {
    const f = path.join(dir, 'arm.yaml');
    const arm: MachineConfig = { ...config, arch: 'aarch64', binfmt: true };
    await saveMachineConfig(f, arm);
    expect(await loadMachineConfig(f, 'dev')).toMatchObject({ arch: 'aarch64', binfmt: true });
  });
  it('a missing config means the machine does not exist', async () => {
    await expect(loadMachineConfig(path.join(dir, 'none.yaml'), 'none')).rejects.toThrow(/machine "none" does not exist/);
  });
});
