import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { TestHttpServer, fakeIso, sha256 } from '../helpers/http-server.js';
import { listFiles, removeAll, tempDir, testStore } from '../helpers/image-fixtures.js';

const iso = fakeIso(2 * 1024 * 1024, 5);
const isoHex = sha256(iso);
const dirs: string[] = [];
afterEach(async () => {
  await removeAll(dirs);
});

describe('cache directory trouble', () => {
  it('an unwritable cache dir is a clear error before any download (also as root)', async () => {
    const root = await tempDir();
    dirs.push(root);
    // A path below a regular file can never be created, whoever runs the test.
    await writeFile(path.join(root, 'somefile'), 'x');
    const src = path.join(root, 'skiff-amd64.iso');
    await writeFile(src, iso);
    const { store } = testStore(path.join(root, 'somefile', 'cache'));
    await expect(store.resolve({ iso: src })).rejects.toMatchObject({
      code: 'cache-unwritable',
      exitCode: ExitCode.environment,
      message: `cannot write the image cache ${path.join(root, 'somefile', 'cache')} (ENOTDIR)`,
    });
  });
});

// A full disk needs a tiny filesystem of its own, which only root can mount. CI runs as root.
const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)('a full disk (1 MB tmpfs, as root)', () => {
  let mnt: string;
  let server: TestHttpServer;

  beforeAll(async () => {
    mnt = await tempDir('skiff-enospc-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    server = await new TestHttpServer().start();
    server.set('/big/skiff-amd64.iso', iso);
  });
  afterAll(async () => {
    await server?.close();
    try {
      execFileSync('umount', [mnt]);
    } finally {
      await removeAll([mnt]);
    }
  });

  it('a download that fills the disk fails clearly and leaves only a resumable .part', async () => {
    const cacheDir = path.join(mnt, 'dl');
    const { store } = testStore(cacheDir);
    const err = await store.resolve({ iso: server.url('/big/skiff-amd64.iso'), checksum: `sha256:${isoHex}` })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'disk-full', exitCode: ExitCode.environment });
    expect((err as Error).message).toBe(`no space left on the device holding ${cacheDir}`);
    expect((err as { hint: string }).hint).toContain('resumes');
    expect(await listFiles(path.join(cacheDir, 'sha256'))).toEqual([]);
    expect(await listFiles(path.join(cacheDir, 'partial'))).toEqual([`${isoHex}.part`]);
  });

  it('copying a local image onto a full disk fails clearly and leaves no copy behind', async () => {
    const root = await tempDir();
    dirs.push(root);
    const src = path.join(root, 'skiff-amd64.iso');
    await writeFile(src, iso);
    const cacheDir = path.join(mnt, 'local');
    await mkdir(cacheDir);
    const { store } = testStore(cacheDir);
    await expect(store.resolve({ iso: src })).rejects.toMatchObject({ code: 'disk-full' });
    expect(await listFiles(cacheDir)).toEqual([]);
  });
});
