import { mkdtemp, readFile, rm, truncate, writeFile, copyFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Iso9660 } from '../../src/image/iso9660.js';
import { SkiffError } from '../../src/errors.js';
import { makeIso } from '../helpers/qemu-fixtures.js';

let work: string;
let iso: string;
const big = randomBytes(3 * 1024 * 1024 + 123);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'skiff-iso9660-'));
  // Many entries in /boot so its directory spans more than one sector.
  const filler: Record<string, string> = {};
  for (let i = 0; i < 80; i++) filler[`boot/f${String(i).padStart(4, '0')}.txt`] = `filler ${i}\n`;
  iso = await makeIso(work, {
    ...filler,
    'boot/vmlinuz': 'not a kernel\n',
    'boot/initrd.img': big,
    'boot/cmdline': 'console=ttyS0 quiet\n',
    'boot/version': 'skiff-guest 0.0.0-test\n',
    'empty.txt': '',
  });
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('Iso9660', () => {
  it('reads small files by path, case-insensitively', async () => {
    const r = await Iso9660.open(iso);
    try {
      expect((await r.readFile('/boot/cmdline')).toString()).toBe('console=ttyS0 quiet\n');
      expect((await r.readFile('/BOOT/VERSION')).toString()).toBe('skiff-guest 0.0.0-test\n');
      expect((await r.readFile('boot/vmlinuz')).toString()).toBe('not a kernel\n');
      expect((await r.readFile('/empty.txt')).length).toBe(0);
      expect(await r.stat('/boot/nope')).toBeUndefined();
      expect(await r.stat('/boot/vmlinuz/x')).toBeUndefined();
      expect((await r.stat('/boot'))?.isDir).toBe(true);
    } finally {
      await r.close();
    }
  });

  it('finds entries in a directory that spans several sectors', async () => {
    const r = await Iso9660.open(iso);
    try {
      const boot = await r.stat('/boot');
      expect(boot!.size).toBeGreaterThan(2048);
      const names = (await r.readDir(boot!)).map((e) => e.name.toLowerCase());
      expect(names).toContain('f0079.txt');
      expect((await r.readFile('/boot/f0079.txt')).toString()).toBe('filler 79\n');
    } finally {
      await r.close();
    }
  });

  it('streams a large file to disk byte for byte', async () => {
    const r = await Iso9660.open(iso);
    const dest = path.join(work, 'initrd.out');
    try {
      await r.extractFile('/boot/initrd.img', dest);
    } finally {
      await r.close();
    }
    expect((await readFile(dest)).equals(big)).toBe(true);
  });

  it('refuses to read a large file whole', async () => {
    const r = await Iso9660.open(iso);
    try {
      await expect(r.readFile('/boot/initrd.img', 1024)).rejects.toThrow(/more than the 1024 expected/);
    } finally {
      await r.close();
    }
  });

  it('names a missing file', async () => {
    const r = await Iso9660.open(iso);
    try {
      await expect(r.extractFile('/boot/missing', path.join(work, 'x'))).rejects.toThrow(/has no file \/boot\/missing/);
    } finally {
      await r.close();
    }
  });

  it('reads the plain ISO9660 tree of an image with Rock Ridge and Joliet too', async () => {
    const dir = await mkdtemp(path.join(work, 'rrj-'));
    const rr = await makeIso(dir, { 'boot/cmdline': 'x=1\n', 'boot/initrd.img': 'i' }, ['-R', '-J']);
    const r = await Iso9660.open(rr);
    try {
      expect((await r.readFile('/boot/cmdline')).toString()).toBe('x=1\n');
      expect((await r.readFile('/boot/initrd.img')).toString()).toBe('i');
    } finally {
      await r.close();
    }
  });

  it('says a file that is not an ISO is not an ISO image', async () => {
    const f = path.join(work, 'random.bin');
    await writeFile(f, randomBytes(64 * 1024));
    const e = await Iso9660.open(f).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SkiffError);
    expect((e as SkiffError).message).toMatch(/is not an ISO image \(no ISO9660 volume descriptor/);
    expect((e as SkiffError).hint).toMatch(/fetch or build it again/);
  });

  it('says a file too short for a descriptor is not an ISO image', async () => {
    const f = path.join(work, 'short.bin');
    await writeFile(f, Buffer.alloc(1000));
    await expect(Iso9660.open(f)).rejects.toThrow(/not an ISO image \(too short/);
  });

  it('reports a truncated image as corrupt instead of returning short data', async () => {
    const f = path.join(work, 'truncated.iso');
    await copyFile(iso, f);
    const r0 = await Iso9660.open(f);
    const entry = await r0.stat('/boot/initrd.img');
    await r0.close();
    // Cut the image in the middle of the initrd.
    await truncate(f, entry!.offset + 4096);
    expect((await stat(f)).size).toBe(entry!.offset + 4096);
    const r = await Iso9660.open(f);
    try {
      await expect(r.extractFile('/boot/initrd.img', path.join(work, 'cut.out'))).rejects.toThrow(/corrupt: .*past the end/);
    } finally {
      await r.close();
    }
  });

  it('says a missing image cannot be read', async () => {
    const e = await Iso9660.open(path.join(work, 'nope.iso')).catch((x: unknown) => x);
    expect((e as SkiffError).code).toBe('iso-unreadable');
    expect((e as SkiffError).message).toMatch(/ENOENT/);
  });
});
