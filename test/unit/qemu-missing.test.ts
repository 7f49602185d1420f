import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QemuDriver } from '../../src/drivers/qemu/driver.js';
import { machinePaths } from '../../src/layout/paths.js';
import { ExitCode, SkiffError } from '../../src/errors.js';

let empty: string;
const savedPath = process.env.PATH;

beforeAll(async () => {
  empty = await mkdtemp(path.join(os.tmpdir(), 'skiff-emptypath-'));
});
afterAll(async () => {
  process.env.PATH = savedPath;
  await rm(empty, { recursive: true, force: true });
});

function driver(arch: 'x86_64' | 'aarch64'): QemuDriver {
  return new QemuDriver({
    name: 'nobin',
    paths: machinePaths(path.join(empty, 'home'), 'nobin'),
    cpus: 1,
    memoryMiB: 256,
    diskGiB: 1,
    arch,
    isoPath: path.join(empty, 'x.iso'),
    shares: [],
  });
}

describe('QemuDriver without QEMU on PATH', () => {
  it('check() names the binary and the package to install', async () => {
    process.env.PATH = empty;
    try {
      const e = await driver('x86_64').check().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SkiffError);
      const se = e as SkiffError;
      expect(se.message).toBe('qemu-system-x86_64 not found on PATH');
      expect(se.exitCode).toBe(ExitCode.environment);
      expect(se.hint).toMatch(process.platform === 'darwin' ? /brew install qemu/ : /qemu-system-x86/);
      const arm = (await driver('aarch64').check().catch((x: unknown) => x)) as SkiffError;
      expect(arm.message).toBe('qemu-system-aarch64 not found on PATH');
      expect(arm.hint).toMatch(process.platform === 'darwin' ? /brew install qemu/ : /qemu-system-arm/);
      // start() fails the same way before touching anything.
      await expect(driver('x86_64').start()).rejects.toThrow(/not found on PATH/);
    } finally {
      process.env.PATH = savedPath;
    }
  });

  it('check() names qemu-utils when only qemu-img is missing', async () => {
    // A PATH with the system emulator but not qemu-img: link just that binary.
    const { symlink } = await import('node:fs/promises');
    const { findOnPath } = await import('../../src/drivers/qemu/binaries.js');
    const real = await findOnPath('qemu-system-x86_64');
    expect(real, 'qemu-system-x86_64 must be installed for this test (apt-get install qemu-system-x86)').toBeDefined();
    const dir = await mkdtemp(path.join(empty, 'onlysys-'));
    await symlink(real!, path.join(dir, 'qemu-system-x86_64'));
    process.env.PATH = dir;
    try {
      const e = (await driver('x86_64').check().catch((x: unknown) => x)) as SkiffError;
      expect(e.message).toBe('qemu-img not found on PATH');
      expect(e.hint).toMatch(process.platform === 'darwin' ? /brew install qemu/ : /qemu-utils/);
    } finally {
      process.env.PATH = savedPath;
    }
  });
});
