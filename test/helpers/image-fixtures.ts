import { mkdtemp, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ImageStore, type ImageStoreOptions } from '../../src/image/store.js';
import type { ImageProgress } from '../../src/image/progress.js';

/** A temp dir per test, removed afterwards whatever happened. */
export async function tempDir(prefix = 'skiff-img-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeAll(dirs: string[]): Promise<void> {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** A store wired for tests: no env, fast retries, progress recorded. */
export function testStore(
  cacheDir: string,
  extra: Partial<ImageStoreOptions> = {},
): { store: ImageStore; progress: ImageProgress[] } {
  const progress: ImageProgress[] = [];
  const store = new ImageStore({
    cacheDir,
    arch: 'x86_64',
    env: {},
    onProgress: (p) => progress.push(p),
    network: { retryDelayMs: 10, connectTimeoutMs: 2_000, responseTimeoutMs: 5_000, idleTimeoutMs: 5_000 },
    ...extra,
  });
  return { store, progress };
}

/** Every file under dir, relative, sorted (missing dir → []). */
export async function listFiles(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
      .sort();
  } catch {
    return [];
  }
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
