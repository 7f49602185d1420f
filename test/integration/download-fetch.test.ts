import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode, SkiffError } from '../../src/errors.js';
import { TestHttpServer, fakeIso, sha256, sha256sums } from '../helpers/http-server.js';
import { closedPort, listFiles, removeAll, tempDir, testStore } from '../helpers/image-fixtures.js';

const iso = fakeIso(300 * 1024, 7);
const isoHex = sha256(iso);
let server: TestHttpServer;
const dirs: string[] = [];

beforeAll(async () => {
  server = await new TestHttpServer().start();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await removeAll(dirs);
});

async function cache(): Promise<string> {
  const d = await tempDir();
  dirs.push(d);
  return path.join(d, 'cache');
}

describe('ImageStore over HTTP', () => {
  it('downloads, verifies against the SHA256SUMS beside the URL, and keys the cache by checksum', async () => {
    server.set('/a/skiff-amd64.iso', iso);
    server.set('/a/SHA256SUMS', `${'0'.repeat(64)}  other.iso\n` + sha256sums({ 'skiff-amd64.iso': iso }));
    const dir = await cache();
    const { store, progress } = testStore(dir);

    const img = await store.resolve({ iso: server.url('/a/skiff-amd64.iso') });

    expect(img.sha256).toBe(isoHex);
    expect(img.path).toBe(path.join(dir, 'sha256', isoHex, 'skiff-amd64.iso'));
    expect(img.size).toBe(iso.length);
    expect(img.source).toBe(server.url('/a/skiff-amd64.iso'));
    expect((await readFile(img.path)).equals(iso)).toBe(true);
    expect(await listFiles(path.join(dir, 'partial'))).toEqual([]);
    const download = progress.filter((p) => p.phase === 'download');
    const verify = progress.filter((p) => p.phase === 'verify');
    expect(download.at(-1)).toMatchObject({ transferred: iso.length, total: iso.length });
    expect(verify.at(-1)).toMatchObject({ transferred: iso.length, total: iso.length });
  });

  it('uses --checksum without asking for a SHA256SUMS, and a cached image needs no request at all', async () => {
    server.set('/b/skiff-amd64.iso', iso);
    const dir = await cache();
    const { store } = testStore(dir);
    const url = server.url('/b/skiff-amd64.iso');

    const first = await store.resolve({ iso: url, checksum: `sha256:${isoHex.toUpperCase()}` });
    const before = server.log.length;
    const second = await store.resolve({ iso: url, checksum: `sha256:${isoHex}` });

    expect(server.requestsFor('/b/SHA256SUMS')).toEqual([]);
    expect(server.requestsFor('/b/skiff-amd64.iso')).toHaveLength(1);
    expect(server.log.length).toBe(before);
    expect(second).toEqual(first);
  });

  it('with only a SHA256SUMS, a cached image is not downloaded again', async () => {
    server.set('/c/skiff-amd64.iso', iso);
    server.set('/c/SHA256SUMS', sha256sums({ 'skiff-amd64.iso': iso }));
    const { store } = testStore(await cache());
    await store.resolve({ iso: server.url('/c/skiff-amd64.iso') });
    await store.resolve({ iso: server.url('/c/skiff-amd64.iso') });
    expect(server.requestsFor('/c/skiff-amd64.iso')).toHaveLength(1);
    expect(server.requestsFor('/c/SHA256SUMS')).toHaveLength(2);
  });

  it('HTTP 404 is a clear not-found error that leaves the cache empty', async () => {
    const dir = await cache();
    const { store } = testStore(dir);
    const err = await store.resolve({ iso: server.url('/missing/skiff-amd64.iso'), checksum: `sha256:${isoHex}` })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SkiffError);
    expect(err).toMatchObject({ code: 'not-found', exitCode: ExitCode.notFound });
    expect((err as SkiffError).message).toMatch(/not found \(HTTP 404\)$/);
    expect((err as SkiffError).message).not.toContain('\n');
    expect(await listFiles(dir)).toEqual([]);
  });

  it('no SHA256SUMS beside the URL and no --checksum asks for --checksum', async () => {
    server.set('/d/skiff-amd64.iso', iso);
    const dir = await cache();
    const { store } = testStore(dir);
    await expect(store.resolve({ iso: server.url('/d/skiff-amd64.iso') })).rejects.toMatchObject({
      code: 'checksum-required',
      hint: expect.stringContaining('--checksum sha256:'),
    });
    expect(server.requestsFor('/d/skiff-amd64.iso')).toEqual([]);
    expect(await listFiles(dir)).toEqual([]);
  });

  it('a SHA256SUMS that does not list the file is refused before downloading', async () => {
    server.set('/e/skiff-amd64.iso', iso);
    server.set('/e/SHA256SUMS', sha256sums({ 'skiff-arm64.iso': iso }));
    const { store } = testStore(await cache());
    await expect(store.resolve({ iso: server.url('/e/skiff-amd64.iso') })).rejects.toMatchObject({
      code: 'checksum-required',
      message: expect.stringContaining('does not list skiff-amd64.iso'),
    });
    expect(server.requestsFor('/e/skiff-amd64.iso')).toEqual([]);
  });

  it('an unreachable server fails at once with a clear error, without retrying', async () => {
    const port = await closedPort();
    const dir = await cache();
    const { store } = testStore(dir);
    const started = Date.now();
    const err = await store.resolve({ iso: `http://127.0.0.1:${port}/skiff-amd64.iso`, checksum: `sha256:${isoHex}` })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'unreachable', exitCode: ExitCode.network });
    expect((err as Error).message).toBe(`cannot reach 127.0.0.1:${port}: connection refused`);
    expect(await listFiles(path.join(dir, 'sha256'))).toEqual([]);
    // Not a timing assertion: a generous bound only proves no retry ladder (or hang) happened.
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('malformed --checksum is a usage error before any request or disk write', async () => {
    const dir = await cache();
    const { store } = testStore(dir);
    const before = server.log.length;
    for (const bad of ['sha256:abc', `md5:${isoHex}`, isoHex, `sha256:${'g'.repeat(64)}`, `sha256:${isoHex}0`]) {
      await expect(store.resolve({ iso: server.url('/b/skiff-amd64.iso'), checksum: bad })).rejects.toMatchObject({
        code: 'bad-checksum',
        exitCode: ExitCode.usage,
      });
    }
    expect(server.log.length).toBe(before);
    expect(await listFiles(path.dirname(dir))).toEqual([]);
  });

  it('the release is the last resort, and its failure says to build or pass --iso', async () => {
    const port = await closedPort();
    const { store } = testStore(await cache(), { release: async () => ({ url: `http://127.0.0.1:${port}/skiff-amd64.iso`, sha256: isoHex }) });
    await expect(store.resolve({})).rejects.toMatchObject({
      code: 'unreachable',
      message: expect.stringMatching(/^no guest image: cannot reach/),
      hint: expect.stringMatching(/npm run iso.*--iso/),
    });
  });

  it('a source checkout with no build and no pinned release says to build, and touches nothing', async () => {
    const dir = await cache();
    const { store } = testStore(dir, { release: async () => undefined });
    await expect(store.resolve({})).rejects.toMatchObject({ code: 'no-image', exitCode: ExitCode.notFound, hint: expect.stringMatching(/npm run iso/) });
    expect(await listFiles(path.dirname(dir))).toEqual([]);
  });

  it('the release asset is verified against the pinned checksum, not the SHA256SUMS served beside it', async () => {
    const tampered = fakeIso(300 * 1024, 8);
    server.set('/rel/v9.9.9/skiff-amd64.iso', tampered);
    server.set('/rel/v9.9.9/SHA256SUMS', sha256sums({ 'skiff-amd64.iso': tampered })); // replaced with the asset
    const dir = await cache();
    const before = server.requestsFor('/rel/v9.9.9/SHA256SUMS').length;
    const { store } = testStore(dir, { release: async () => ({ url: server.url('/rel/v9.9.9/skiff-amd64.iso'), sha256: isoHex }) });
    await expect(store.resolve({})).rejects.toMatchObject({
      code: 'checksum-mismatch',
      message: expect.stringMatching(/pins/),
      hint: expect.stringMatching(/replaced or damaged/),
    });
    expect(server.requestsFor('/rel/v9.9.9/SHA256SUMS').length).toBe(before); // never asked
    expect(await listFiles(dir)).toEqual([]); // nothing cached, no partial kept

    server.set('/rel/v9.9.9/skiff-amd64.iso', iso);
    const img = await store.resolve({});
    expect(img).toMatchObject({ sha256: isoHex, source: server.url('/rel/v9.9.9/skiff-amd64.iso') });
  });

  it('SKIFF_ISO_URL is used when --iso is absent, and --iso wins over it', async () => {
    server.set('/f/skiff-amd64.iso', iso);
    const other = fakeIso(100 * 1024, 99);
    server.set('/g/skiff-amd64.iso', other);
    const env = { SKIFF_ISO_URL: server.url('/f/skiff-amd64.iso') };
    const { store } = testStore(await cache(), { env });
    const fromEnv = await store.resolve({ checksum: `sha256:${isoHex}` });
    expect(fromEnv.source).toBe(env.SKIFF_ISO_URL);
    const fromFlag = await store.resolve({ iso: server.url('/g/skiff-amd64.iso'), checksum: `sha256:${sha256(other)}` });
    expect(fromFlag.sha256).toBe(sha256(other));
  });
});
