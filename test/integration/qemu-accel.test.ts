import { mkdtemp, open, readFile, rm, writeFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseAccelerator, tcgNotice } from '../../src/drivers/qemu/accel.js';
import { qemuVersion, requireBinary } from '../../src/drivers/qemu/binaries.js';
import { multibootStub } from '../helpers/qemu-fixtures.js';

let work: string;
let kernel: string;
let qemu: string;
let version: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'skiff-accel-it-'));
  kernel = path.join(work, 'stub');
  await writeFile(kernel, multibootStub());
  qemu = await requireBinary('qemu-system-x86_64');
  version = await qemuVersion(qemu);
});
afterAll(async () => rm(work, { recursive: true, force: true }));

describe('chooseAccelerator', () => {
  it('falls back to TCG, with a reason, for a guest of another architecture', async () => {
    const v = await chooseAccelerator({ qemuBinary: qemu, qemuVersion: version, arch: 'aarch64', kernel, cacheFile: path.join(work, 'a.json'), hostArch: 'x64', platform: 'linux' });
    expect(v).toEqual({ accel: 'tcg', reason: 'an aarch64 guest on an x64 host cannot use KVM' });
    // Decided without a probe, so nothing is cached.
    await expect(stat(path.join(work, 'a.json'))).rejects.toThrow(/ENOENT/);
  });

  it('falls back to TCG on platforms without a supported accelerator', async () => {
    const v = await chooseAccelerator({ qemuBinary: qemu, qemuVersion: version, arch: 'x86_64', kernel, cacheFile: path.join(work, 'w.json'), platform: 'win32', hostArch: 'x64' });
    expect(v.accel).toBe('tcg');
    expect(v.reason).toMatch(/win32/);
  });

  it('does not trust KVM when the guest kernel shows no sign of life, and caches that per QEMU version', async () => {
    // The stub kernel never prints "Linux version", so KVM is never confirmed: whatever /dev/kvm
    // looks like on this host, the verdict is TCG with a reason a user can read.
    const cacheFile = path.join(work, 'cache', 'accel.json');
    const v = await chooseAccelerator({ qemuBinary: qemu, qemuVersion: version, arch: 'x86_64', kernel, cacheFile, timeoutMs: 3000, hostArch: 'x64', platform: 'linux' });
    expect(v.accel).toBe('tcg');
    expect(v.reason).toMatch(/KVM|kvm/);
    expect(tcgNotice(v.reason!)).toMatch(/running under TCG/);
    if (await kvmDeviceOpens()) {
      // The boot probe ran: its verdict is cached under this QEMU's version.
      const cache = JSON.parse(await readFile(cacheFile, 'utf8')) as Record<string, { ok: boolean; reason: string }>;
      expect(cache[`qemu-system-x86_64@${version}/kvm`]).toMatchObject({ ok: false, reason: v.reason });
    }
  });

  it('answers from the cache without probing again', async () => {
    const cacheFile = path.join(work, 'cached.json');
    await writeFile(cacheFile, JSON.stringify({ [`qemu-system-x86_64@${version}/kvm`]: { ok: true, checkedAt: 'x' } }));
    // A missing kernel would make any probe fail: a "kvm" verdict proves the cache answered.
    const v = await chooseAccelerator({ qemuBinary: qemu, qemuVersion: version, arch: 'x86_64', kernel: path.join(work, 'absent'), cacheFile, hostArch: 'x64', platform: 'linux' });
    // The cheap /dev/kvm check still runs first, because a user can fix it.
    expect(v.accel).toBe((await kvmDeviceOpens()) ? 'kvm' : 'tcg');
  });
});

async function kvmDeviceOpens(): Promise<boolean> {
  try {
    await (await open('/dev/kvm', 'r+')).close();
    return true;
  } catch {
    return false;
  }
}
