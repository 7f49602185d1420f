import { mkdtemp, readFile, rename, rm, utimes, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootSourceMatches, extractBootFiles, loadBootFiles } from '../../src/drivers/qemu/boot-files.js';
import { makeIso } from '../helpers/qemu-fixtures.js';

let work: string;
let iso: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'skiff-bootfiles-'));
  iso = await makeIso(await mkdtemp(path.join(work, 'a-')), {
    'boot/vmlinuz': 'kernel-a',
    'boot/initrd.img': 'initrd-a',
    'boot/cmdline': 'console=ttyS0 a=1\n',
    'boot/version': 'a\n',
  });
});
afterAll(async () => rm(work, { recursive: true, force: true }));

describe('boot files', () => {
  it('extracts the four files and remembers which ISO they came from', async () => {
    const dir = await mkdtemp(path.join(work, 'd-'));
    expect(await bootSourceMatches(iso, dir)).toBe(false);
    await extractBootFiles(iso, dir);
    const b = await loadBootFiles(dir);
    expect(await readFile(b.kernel, 'utf8')).toBe('kernel-a');
    expect(await readFile(b.initrd, 'utf8')).toBe('initrd-a');
    expect(b.cmdline).toBe('console=ttyS0 a=1');
    expect(b.version).toBe('a');
    expect(await bootSourceMatches(iso, dir)).toBe(true);
    // A rebuilt image at the same path is another image.
    await utimes(iso, new Date(), new Date(Date.now() + 5000));
    expect(await bootSourceMatches(iso, dir)).toBe(false);
    expect((await readdir(dir)).sort()).toEqual(['boot']);
  });

  it('recovers the previous set when a swap was interrupted', async () => {
    const dir = await mkdtemp(path.join(work, 'd-'));
    await extractBootFiles(iso, dir);
    // As if the process died between moving boot/ aside and moving the new set in.
    await rename(path.join(dir, 'boot'), path.join(dir, '.boot.old'));
    const b = await loadBootFiles(dir);
    expect(b.version).toBe('a');
  });

  it('rejects an image whose cmdline is not one line, keeping the old set', async () => {
    const dir = await mkdtemp(path.join(work, 'd-'));
    await extractBootFiles(iso, dir);
    const bad = await makeIso(await mkdtemp(path.join(work, 'b-')), {
      'boot/vmlinuz': 'k',
      'boot/initrd.img': 'i',
      'boot/cmdline': 'one\ntwo\n',
      'boot/version': 'b\n',
    });
    await expect(extractBootFiles(bad, dir)).rejects.toThrow(/must be one non-empty line/);
    expect((await loadBootFiles(dir)).version).toBe('a');
    expect((await readdir(dir)).sort()).toEqual(['boot']);
  });

  it('names what is missing when nothing was extracted', async () => {
    const dir = await mkdtemp(path.join(work, 'd-'));
    await expect(loadBootFiles(dir)).rejects.toThrow(/kernel files are missing/);
  });
});
