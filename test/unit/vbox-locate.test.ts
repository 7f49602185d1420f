import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateVBoxManage } from '../../src/drivers/virtualbox/locate.js';
import { SkiffError } from '../../src/errors.js';

let root: string;
async function exe(dir: string, name: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  await writeFile(file, '#!/bin/sh\n');
  await chmod(file, 0o755);
  return file;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'skiff-vbox-locate-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('locateVBoxManage', () => {
  it('finds VBoxManage on PATH, in PATH order', async () => {
    const a = path.join(root, 'a');
    const b = path.join(root, 'b');
    await exe(b, 'VBoxManage');
    const first = await exe(a, 'VBoxManage');
    expect(await locateVBoxManage({ PATH: [a, b].join(path.delimiter) }, 'linux')).toBe(first);
  });

  it('accepts the lowercase name some Linux packages install', async () => {
    const d = path.join(root, 'lower');
    const file = await exe(d, 'vboxmanage');
    expect(await locateVBoxManage({ PATH: d }, 'linux')).toBe(file);
  });

  it('skips files that are not executable', async () => {
    const d = path.join(root, 'noexec');
    await mkdir(d, { recursive: true });
    await writeFile(path.join(d, 'VBoxManage'), '');
    await expect(locateVBoxManage({ PATH: d }, 'linux')).rejects.toMatchObject({ code: 'vbox-missing' });
  });

  it('prefers SKIFF_VBOXMANAGE, and says so when it is wrong', async () => {
    const file = await exe(path.join(root, 'override'), 'VBoxManage');
    expect(await locateVBoxManage({ PATH: '', SKIFF_VBOXMANAGE: file }, 'linux')).toBe(file);
    const e = await locateVBoxManage({ PATH: '', SKIFF_VBOXMANAGE: path.join(root, 'nope') }, 'linux').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SkiffError);
    expect((e as SkiffError).message).toContain('SKIFF_VBOXMANAGE');
  });

  it('looks in the Windows installer dirs', async () => {
    const d = path.join(root, 'Oracle', 'VirtualBox');
    const file = await exe(d, 'VBoxManage.exe');
    expect(await locateVBoxManage({ PATH: '', VBOX_MSI_INSTALL_PATH: d }, 'win32')).toBe(file);
  });

  it('names what to install when nothing is found', async () => {
    const e = await locateVBoxManage({ PATH: path.join(root, 'empty') }, 'linux').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SkiffError);
    expect((e as SkiffError).code).toBe('vbox-missing');
    expect((e as SkiffError).hint).toContain('virtualbox.org');
  });
});
