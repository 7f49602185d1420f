import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode, SkiffError } from '../../src/errors.js';
import { TestHttpServer, fakeIso, sha256 } from '../helpers/http-server.js';
import { listFiles, removeAll, tempDir, testStore } from '../helpers/image-fixtures.js';

const iso = fakeIso(512 * 1024, 3);
const isoHex = sha256(iso);
const checksum = `sha256:${isoHex}`;
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

function rangeStart(range: string | undefined): number {
  if (range === undefined) return 0;
  const m = /^bytes=(\d+)-$/.exec(range);
  if (!m) throw new Error(`unexpected Range ${range}`);
  return Number(m[1]);
}

async function cache(): Promise<string> {
  const d = await tempDir();
  dirs.push(d);
  return path.join(d, 'cache');
}

describe('resumable downloads', () => {
  it('a connection cut mid-download resumes with a Range request where it stopped, within one resolve', async () => {
    const cut = 200 * 1024;
    server.set('/cut/skiff-amd64.iso', { body: iso, cutAfter: cut });
    const { store } = testStore(await cache());

    const img = await store.resolve({ iso: server.url('/cut/skiff-amd64.iso'), checksum });

    const reqs = server.requestsFor('/cut/skiff-amd64.iso');
    expect(reqs).toHaveLength(2);
    expect(reqs[0]).toMatchObject({ range: undefined, status: 200 });
    expect(reqs[1]?.status).toBe(206);
    // It resumes from what reached the disk: at most the cut point (bytes still in the
    // client's buffers when the socket died are fetched again), never from zero.
    expect(rangeStart(reqs[1]?.range)).toBeGreaterThan(0);
    expect(rangeStart(reqs[1]?.range)).toBeLessThanOrEqual(cut);
    expect((await readFile(img.path)).equals(iso)).toBe(true);
  });

  it('several cuts in a row are all resumed from the current length', async () => {
    const cut = 100 * 1024;
    server.set('/cuts/skiff-amd64.iso', { body: iso, cutAfter: cut, cutTimes: 3 });
    const { store } = testStore(await cache());
    const img = await store.resolve({ iso: server.url('/cuts/skiff-amd64.iso'), checksum });
    const starts = server.requestsFor('/cuts/skiff-amd64.iso').map((r) => rangeStart(r.range));
    expect(starts).toHaveLength(4);
    expect(starts[0]).toBe(0);
    for (let i = 1; i < starts.length; i++) {
      expect(starts[i]).toBeGreaterThan(starts[i - 1]!);
      expect(starts[i]).toBeLessThanOrEqual(starts[i - 1]! + cut);
    }
    expect(sha256(await readFile(img.path))).toBe(isoHex);
  });

  it('a .part left by an interrupted run is resumed by the next run', async () => {
    server.set('/part/skiff-amd64.iso', iso);
    const dir = await cache();
    const have = 123_456;
    await mkdir(path.join(dir, 'partial'), { recursive: true });
    await writeFile(path.join(dir, 'partial', `${isoHex}.part`), iso.subarray(0, have));
    const { store, progress } = testStore(dir);

    const img = await store.resolve({ iso: server.url('/part/skiff-amd64.iso'), checksum });

    expect(server.requestsFor('/part/skiff-amd64.iso').map((r) => [r.range, r.status])).toEqual([[`bytes=${have}-`, 206]]);
    expect((await readFile(img.path)).equals(iso)).toBe(true);
    expect(progress.find((p) => p.phase === 'download')).toMatchObject({ transferred: have, total: iso.length });
  });

  it('a server that ignores Range (200) makes the download start over, not append', async () => {
    server.set('/norange/skiff-amd64.iso', { body: iso, ignoreRange: true });
    const dir = await cache();
    await mkdir(path.join(dir, 'partial'), { recursive: true });
    await writeFile(path.join(dir, 'partial', `${isoHex}.part`), iso.subarray(0, 50_000));
    const { store } = testStore(dir);

    const img = await store.resolve({ iso: server.url('/norange/skiff-amd64.iso'), checksum });

    expect(server.requestsFor('/norange/skiff-amd64.iso').map((r) => r.status)).toEqual([200]);
    expect((await stat(img.path)).size).toBe(iso.length);
    expect((await readFile(img.path)).equals(iso)).toBe(true);
  });

  it('a .part that is already complete gets 416 and is verified, not downloaded again', async () => {
    server.set('/done/skiff-amd64.iso', iso);
    const dir = await cache();
    await mkdir(path.join(dir, 'partial'), { recursive: true });
    await writeFile(path.join(dir, 'partial', `${isoHex}.part`), iso);
    const { store } = testStore(dir);
    const img = await store.resolve({ iso: server.url('/done/skiff-amd64.iso'), checksum });
    expect(server.requestsFor('/done/skiff-amd64.iso').map((r) => r.status)).toEqual([416]);
    expect(img.sha256).toBe(isoHex);
  });

  it('wrong bytes: checksum error naming both hashes, nothing in the cache, no .part left', async () => {
    const wrong = fakeIso(iso.length, 4);
    server.set('/wrong/skiff-amd64.iso', { body: iso, wrongBody: wrong });
    const dir = await cache();
    const { store } = testStore(dir);

    const err = await store.resolve({ iso: server.url('/wrong/skiff-amd64.iso'), checksum }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(SkiffError);
    expect(err).toMatchObject({ code: 'checksum-mismatch' });
    expect((err as Error).message).toContain(`expected sha256:${isoHex}`);
    expect((err as Error).message).toContain(`got sha256:${sha256(wrong)}`);
    expect(await listFiles(dir)).toEqual([]);
  });

  it('a truncated file (server lies about the length, closes early every time) fails after bounded retries', async () => {
    const at = 300 * 1024;
    server.set('/trunc/skiff-amd64.iso', { body: iso, truncateAt: at });
    const dir = await cache();
    const { store } = testStore(dir, { network: { retryDelayMs: 5, attempts: 4 } });

    const err = await store.resolve({ iso: server.url('/trunc/skiff-amd64.iso'), checksum }).catch((e: unknown) => e);

    expect(err).toMatchObject({ code: 'download-failed', exitCode: ExitCode.network });
    expect((err as Error).message).toMatch(/failed after 4 attempts: .*\((\d+) bytes received\)$/);
    const reqs = server.requestsFor('/trunc/skiff-amd64.iso');
    expect(reqs).toHaveLength(4);
    const starts = reqs.map((r) => rangeStart(r.range));
    expect(starts.every((s, i) => s <= at && (i === 0 || s >= starts[i - 1]!))).toBe(true);
    // Only a resumable .part remains; nothing in the cache proper looks like an image.
    expect(await listFiles(dir)).toEqual([`partial/${isoHex}.part`]);
    const kept = (await stat(path.join(dir, 'partial', `${isoHex}.part`))).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(at);
    expect((err as Error).message).toContain(`(${kept} bytes received)`);
  });

  it('a server error (503) is retried, a 403 is not', async () => {
    server.set('/busy/skiff-amd64.iso', { body: iso, failStatus: 503, failTimes: 2 });
    const { store } = testStore(await cache());
    const img = await store.resolve({ iso: server.url('/busy/skiff-amd64.iso'), checksum });
    expect(server.requestsFor('/busy/skiff-amd64.iso').map((r) => r.status)).toEqual([503, 503, 200]);
    expect(img.sha256).toBe(isoHex);

    server.set('/denied/skiff-amd64.iso', { body: iso, failStatus: 403, failTimes: 99 });
    await expect(store.resolve({ iso: server.url('/denied/skiff-amd64.iso'), checksum: `sha256:${'1'.repeat(64)}` }))
      .rejects.toMatchObject({ code: 'http-error', message: expect.stringMatching(/answered HTTP 403$/) });
    expect(server.requestsFor('/denied/skiff-amd64.iso')).toHaveLength(1);
  });

  it('a slow server reports progress with size and a speed while it downloads', async () => {
    server.set('/slow/skiff-amd64.iso', { body: iso, chunkDelayMs: 15 });
    const { store, progress } = testStore(await cache());
    await store.resolve({ iso: server.url('/slow/skiff-amd64.iso'), checksum });
    const download = progress.filter((p) => p.phase === 'download');
    expect(download.length).toBeGreaterThan(2);
    expect(download.every((p) => p.total === iso.length)).toBe(true);
    expect(download.some((p) => p.bytesPerSecond > 0)).toBe(true);
    const transferred = download.map((p) => p.transferred);
    expect([...transferred].sort((a, b) => a - b)).toEqual(transferred);
  });

  it('an abort stops the download, keeps the .part, and the next run resumes it', async () => {
    server.set('/abort/skiff-amd64.iso', { body: iso, chunkDelayMs: 20 });
    const dir = await cache();
    const ac = new AbortController();
    const first = testStore(dir, {
      signal: ac.signal,
      onProgress: (p) => { if (p.phase === 'download' && p.transferred >= 64 * 1024) ac.abort(); },
    });
    await expect(first.store.resolve({ iso: server.url('/abort/skiff-amd64.iso'), checksum })).rejects.toMatchObject({
      code: 'cancelled',
    });
    expect(await listFiles(path.join(dir, 'sha256'))).toEqual([]);
    const kept = (await stat(path.join(dir, 'partial', `${isoHex}.part`))).size;
    expect(kept).toBeGreaterThan(0);

    const { store } = testStore(dir);
    const img = await store.resolve({ iso: server.url('/abort/skiff-amd64.iso'), checksum });
    expect(server.requestsFor('/abort/skiff-amd64.iso').at(-1)?.range).toBe(`bytes=${kept}-`);
    expect((await readFile(img.path)).equals(iso)).toBe(true);
  });
});
