import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { fakeIso, sha256, sha256sums } from '../helpers/http-server.js';
import { closedPort, listFiles, removeAll, tempDir, testStore } from '../helpers/image-fixtures.js';

const iso = fakeIso(200 * 1024, 11);
const isoHex = sha256(iso);
const dirs: string[] = [];

afterEach(async () => {
  await removeAll(dirs);
});

async function setup(): Promise<{ root: string; cacheDir: string; src: string }> {
  const root = await tempDir();
  dirs.push(root);
  const src = path.join(root, 'src', 'skiff-amd64.iso');
  await mkdir(path.dirname(src), { recursive: true });
  await writeFile(src, iso);
  return { root, cacheDir: path.join(root, 'cache'), src };
}

describe('ImageStore with local files (offline)', () => {
  it('copies a local path into the cache, so deleting the source breaks nothing', async () => {
    const { cacheDir, src } = await setup();
    const { store, progress } = testStore(cacheDir);

    const img = await store.resolve({ iso: src });

    expect(img).toEqual({
      path: path.join(cacheDir, 'sha256', isoHex, 'skiff-amd64.iso'),
      sha256: isoHex,
      source: src,
      size: iso.length,
    });
    expect(progress.some((p) => p.phase === 'verify' && p.transferred === iso.length)).toBe(true);
    await rm(src);
    expect((await readFile(img.path)).equals(iso)).toBe(true);
    expect(await listFiles(path.join(cacheDir, 'tmp'))).toEqual([]);
  });

  it('accepts a file:// URL and a relative path', async () => {
    const { root, cacheDir, src } = await setup();
    const { store } = testStore(cacheDir);
    const viaUrl = await store.resolve({ iso: pathToFileURL(src).href });
    expect(viaUrl.sha256).toBe(isoHex);
    const cwd = process.cwd();
    try {
      process.chdir(root);
      const viaRelative = await store.resolve({ iso: 'src/skiff-amd64.iso' });
      expect(viaRelative.path).toBe(viaUrl.path);
      expect(viaRelative.source).toBe(src);
    } finally {
      process.chdir(cwd);
    }
  });

  it('verifies against a SHA256SUMS beside the file and refuses a mismatch', async () => {
    const { cacheDir, src } = await setup();
    const { store } = testStore(cacheDir);
    await writeFile(path.join(path.dirname(src), 'SHA256SUMS'), `${'ab'.repeat(32)} *skiff-amd64.iso\n`);
    await expect(store.resolve({ iso: src })).rejects.toMatchObject({
      code: 'checksum-mismatch',
      message: `checksum mismatch for ${src}: expected sha256:${'ab'.repeat(32)}, got sha256:${isoHex}`,
    });
    expect(await listFiles(cacheDir)).toEqual([]);
    await writeFile(path.join(path.dirname(src), 'SHA256SUMS'), sha256sums({ 'skiff-amd64.iso': iso }));
    expect((await store.resolve({ iso: src })).sha256).toBe(isoHex);
  });

  it('refuses a local file whose hash differs from --checksum', async () => {
    const { cacheDir, src } = await setup();
    const { store } = testStore(cacheDir);
    await expect(store.resolve({ iso: src, checksum: `sha256:${'0'.repeat(64)}` })).rejects.toMatchObject({
      code: 'checksum-mismatch',
    });
    expect(await listFiles(cacheDir)).toEqual([]);
  });

  it('a missing path, a directory and a non-ISO file are clear errors that change nothing', async () => {
    const { root, cacheDir } = await setup();
    const { store } = testStore(cacheDir);
    await expect(store.resolve({ iso: path.join(root, 'nope.iso') })).rejects.toMatchObject({
      code: 'image-not-found',
      exitCode: ExitCode.notFound,
      message: `no such image file: ${path.join(root, 'nope.iso')}`,
    });
    await expect(store.resolve({ iso: root })).rejects.toMatchObject({ code: 'image-not-a-file', exitCode: ExitCode.usage });
    const notIso = path.join(root, 'disk.img');
    await writeFile(notIso, Buffer.alloc(64 * 1024, 7));
    await expect(store.resolve({ iso: notIso })).rejects.toMatchObject({
      code: 'not-an-iso',
      message: `${notIso} is not an ISO image (no ISO9660 signature)`,
    });
    const tiny = path.join(root, 'tiny.iso');
    await writeFile(tiny, 'CD001');
    await expect(store.resolve({ iso: tiny })).rejects.toMatchObject({ code: 'not-an-iso' });
    await expect(store.resolve({ iso: 'ftp://example.invalid/x.iso' })).rejects.toMatchObject({ code: 'bad-iso' });
    expect(existsSync(cacheDir)).toBe(false);
  });

  it('uses a local build in iso/out only when its SHA256SUMS lists and matches it', async () => {
    const { root, cacheDir } = await setup();
    const repoIsoDir = path.join(root, 'iso', 'out');
    await mkdir(repoIsoDir, { recursive: true });
    await writeFile(path.join(repoIsoDir, 'skiff-amd64.iso'), iso);
    const port = await closedPort();
    const { store } = testStore(cacheDir, { repoIsoDir, release: async () => ({ url: `http://127.0.0.1:${port}/skiff-amd64.iso`, sha256: 'ab'.repeat(32) }) });

    // No SHA256SUMS yet (a build in progress): not used, so the release URL is tried.
    await expect(store.resolve({})).rejects.toMatchObject({ message: expect.stringMatching(/^no guest image/) });
    await writeFile(path.join(repoIsoDir, 'SHA256SUMS'), `${'cd'.repeat(32)}  skiff-amd64.iso\n`);
    await expect(store.resolve({})).rejects.toMatchObject({ message: expect.stringMatching(/^no guest image/) });

    await writeFile(path.join(repoIsoDir, 'SHA256SUMS'), sha256sums({ 'skiff-amd64.iso': iso }));
    const img = await store.resolve({});
    expect(img).toMatchObject({ sha256: isoHex, source: 'local build' });
    expect(img.path.startsWith(cacheDir)).toBe(true);
  });

  it("with both builds in iso/out, each architecture's store takes its own image and checksum line", async () => {
    const { root, cacheDir } = await setup();
    const repoIsoDir = path.join(root, 'iso', 'out');
    await mkdir(repoIsoDir, { recursive: true });
    const armIso = fakeIso(200 * 1024, 64);
    await writeFile(path.join(repoIsoDir, 'skiff-amd64.iso'), iso);
    await writeFile(path.join(repoIsoDir, 'skiff-arm64.iso'), armIso);
    await writeFile(path.join(repoIsoDir, 'SHA256SUMS'), sha256sums({ 'skiff-amd64.iso': iso, 'skiff-arm64.iso': armIso }));
    const release = async () => ({ url: `http://127.0.0.1:${await closedPort()}/x.iso`, sha256: 'ab'.repeat(32) });
    const arm = await testStore(cacheDir, { repoIsoDir, release, arch: 'aarch64' }).store.resolve({});
    expect(arm).toMatchObject({ sha256: sha256(armIso), source: 'local build' });
    expect(path.basename(arm.path)).toBe('skiff-arm64.iso');
    const amd = await testStore(cacheDir, { repoIsoDir, release, arch: 'x86_64' }).store.resolve({});
    expect(amd).toMatchObject({ sha256: isoHex, source: 'local build' });
    expect(path.basename(amd.path)).toBe('skiff-amd64.iso');
  });

  it('an aarch64 store names its image skiff-arm64.iso', async () => {
    const { cacheDir, src } = await setup();
    const { store } = testStore(cacheDir, { arch: 'aarch64' });
    const img = await store.resolve({ iso: src });
    expect(path.basename(img.path)).toBe('skiff-arm64.iso');
  });
});
