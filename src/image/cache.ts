import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, copyFile, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { cacheWriteError } from './fs-errors.js';

/**
 * The image cache, keyed by content: `sha256/HEX/NAME` is complete and verified the
 * moment it exists, because it only ever appears by rename. Downloads in progress
 * live in `partial/`, local copies in progress in `tmp/`.
 */
export class ImageCache {
  constructor(readonly dir: string) {}

  entryPath(sha256: string, fileName: string): string {
    return path.join(this.dir, 'sha256', sha256, fileName);
  }

  partialPath(key: string): string {
    return path.join(this.dir, 'partial', `${key}.part`);
  }

  async lookup(sha256: string, fileName: string): Promise<{ path: string; size: number } | undefined> {
    const p = this.entryPath(sha256, fileName);
    try {
      const st = await stat(p);
      return st.isFile() ? { path: p, size: st.size } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Creates the cache's directories and proves they are writable, before anything else happens. */
  async ensureWritable(): Promise<void> {
    try {
      for (const sub of ['sha256', 'partial', 'tmp']) {
        await mkdir(path.join(this.dir, sub), { recursive: true });
      }
      // root ignores mode bits, and access() would then say yes; only the real syscall tells.
      await access(path.join(this.dir, 'partial'), fsConstants.W_OK);
    } catch (e) {
      throw cacheWriteError(e, this.dir, false);
    }
  }

  /** Durably moves a finished, verified file (already inside the cache dir) to its entry. */
  async install(file: string, sha256: string, fileName: string): Promise<string> {
    const dest = this.entryPath(sha256, fileName);
    try {
      await fsyncPath(file);
      await mkdir(path.dirname(dest), { recursive: true });
      await rename(file, dest);
      await fsyncPath(path.dirname(dest));
      return dest;
    } catch (e) {
      throw cacheWriteError(e, this.dir, false);
    }
  }

  /**
   * Copies a local file into tmp/ (a reflink where the filesystem can). A copy, not a
   * hard link: rebuilding the source in place would otherwise change the cached image.
   * The caller verifies the copy and installs it; on failure the copy is removed.
   */
  async copyIn(source: string): Promise<string> {
    const tmp = path.join(this.dir, 'tmp', `${randomBytes(8).toString('hex')}.copy`);
    try {
      await copyFile(source, tmp, fsConstants.COPYFILE_FICLONE);
      return tmp;
    } catch (e) {
      await rm(tmp, { force: true });
      throw cacheWriteError(e, this.dir, false);
    }
  }
}

async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
