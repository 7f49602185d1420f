import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode, SkiffError } from '../errors.js';
import { ImageCache } from './cache.js';
import { checksumMismatch, findInSha256Sums, parseChecksumArg, sha256File } from './checksum.js';
import { downloadResumable, fetchText, type NetworkOptions } from './download.js';
import { cacheWriteError } from './fs-errors.js';
import { assertIsoSignature } from './iso-signature.js';
import { assertReadableFile, sumsBeside } from './local.js';
import type { Arch } from '../arch.js';
import { imageFileName } from './names.js';
import { ProgressMeter, type ProgressListener } from './progress.js';
import type { ReleaseImage } from './release.js';
import { withFileLock } from '../util/file-lock.js';

export interface ResolvedImage {
  /** The image file inside the cache (sha256/HEX/NAME); stays valid whatever happens to the source. */
  path: string;
  sha256: string;
  /** Where it came from: the URL, the local path, or 'local build'. */
  source: string;
  size: number;
}

export interface ImageStoreOptions {
  cacheDir: string;
  /** iso/out of a source checkout; used only when it holds the image and a SHA256SUMS matching it. */
  repoIsoDir?: string;
  /** This skiff version's published image and its pinned checksum; undefined in a source checkout. Asked only when needed. */
  release?: () => Promise<ReleaseImage | undefined>;
  arch: Arch;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  /** Where SKIFF_ISO_URL is read from (process.env unless given). */
  env?: NodeJS.ProcessEnv;
  network?: Omit<NetworkOptions, 'signal'>;
}

export interface ImageSource {
  /** --iso: an http(s):// or file:// URL, or a local path. */
  iso?: string;
  /** --checksum sha256:HEX */
  checksum?: string;
}

/**
 * Refuses a malformed --iso URL or SKIFF_ISO_URL (a typo such as `http://`)
 * as the user's mistake, naming where it came from. Pure, so callers can run it
 * before anything slow (the hypervisor check, the download).
 */
export function checkImageSource(source: ImageSource, env: NodeJS.ProcessEnv = process.env): void {
  const envIso = env.SKIFF_ISO_URL;
  const [spec, where] = source.iso !== undefined ? [source.iso, '--iso'] : [envIso === '' ? undefined : envIso, 'SKIFF_ISO_URL'];
  if (spec === undefined || !/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) return;
  let ok = false;
  try {
    const url = new URL(spec);
    ok = url.protocol === 'file:' || url.host !== '';
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new SkiffError('invalid-url', `invalid image URL ${JSON.stringify(spec)} (from ${where})`, {
      hint: 'give a complete http(s):// URL, or a local path',
      exitCode: ExitCode.usage,
    });
  }
}

/** iso/out of the checkout this code runs from (dist/image/ → ../../iso/out). */
export function defaultRepoIsoDir(): string {
  return fileURLToPath(new URL('../../iso/out/', import.meta.url));
}

/**
 * Finds the guest image and puts it in the content-keyed cache. Order: --iso,
 * SKIFF_ISO_URL, a local build in iso/out, the release URL. Everything that
 * lands in the cache has been checked against a SHA-256 and appears there by
 * an atomic rename, so a failure at any point leaves nothing that looks complete.
 */
export class ImageStore {
  private readonly cache: ImageCache;
  private readonly fileName: string;

  constructor(private readonly opts: ImageStoreOptions) {
    this.cache = new ImageCache(opts.cacheDir);
    this.fileName = imageFileName(opts.arch);
  }

  async resolve(source: ImageSource = {}): Promise<ResolvedImage> {
    // Bad input is refused before anything touches the disk or the network; the cache's
    // directories are created only once the input has passed its checks.
    checkImageSource(source, this.opts.env ?? process.env);
    const expected = source.checksum === undefined ? undefined : parseChecksumArg(source.checksum);
    const envIso = (this.opts.env ?? process.env).SKIFF_ISO_URL;
    const spec = source.iso ?? (envIso === undefined || envIso === '' ? undefined : envIso);

    if (spec !== undefined) return this.fromSpec(spec, expected);
    const local = await this.fromLocalBuild(expected);
    if (local) return local;
    return this.fromRelease(expected);
  }

  /** The last resort: this version's release asset, verified against the checksum the package pins. */
  private async fromRelease(expected: string | undefined): Promise<ResolvedImage> {
    const release = await this.opts.release?.();
    if (release === undefined) {
      throw new SkiffError('no-image', `no guest image: ${this.fileName} is not built and this skiff (a source checkout) pins no release`, {
        hint: 'build it with `npm run iso`, or pass --iso PATH|URL',
        exitCode: ExitCode.notFound,
      });
    }
    try {
      return await this.fromUrl(release.url, expected ?? release.sha256);
    } catch (e) {
      if (e instanceof SkiffError && e.code === 'checksum-mismatch') {
        throw new SkiffError(e.code, `${e.message} (the checksum this skiff version pins)`, {
          hint: 'the release asset was replaced or damaged on its way: nothing was kept; check the mirror (SKIFF_RELEASE_BASE_URL) or pass --iso',
          exitCode: e.exitCode,
          cause: e,
        });
      }
      if (!(e instanceof SkiffError) || !RELEASE_UNAVAILABLE.has(e.code)) throw e;
      throw new SkiffError(e.code, `no guest image: ${e.message}`, {
        hint: 'build it with `npm run iso` in a skiff checkout, or pass --iso PATH|URL',
        exitCode: e.exitCode,
        cause: e,
      });
    }
  }

  private fromSpec(spec: string, expected: string | undefined): Promise<ResolvedImage> {
    if (/^https?:\/\//i.test(spec)) return this.fromUrl(spec, expected);
    if (/^file:/i.test(spec)) {
      let file: string;
      try {
        file = fileURLToPath(spec);
      } catch {
        throw badSpec(spec);
      }
      return this.fromPath(file, expected, file);
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) throw badSpec(spec);
    const file = path.resolve(spec);
    return this.fromPath(file, expected, file);
  }

  /** Used only when complete and consistent: the image and a SHA256SUMS that lists and matches it. */
  private async fromLocalBuild(expected: string | undefined): Promise<ResolvedImage | undefined> {
    if (this.opts.repoIsoDir === undefined) return undefined;
    const file = path.join(this.opts.repoIsoDir, this.fileName);
    const listed = await sumsBeside(file);
    if (listed === undefined || (expected !== undefined && expected !== listed)) return undefined;
    try {
      await assertReadableFile(file);
    } catch {
      return undefined;
    }
    const cached = await this.cache.lookup(listed, this.fileName);
    if (cached) return { ...cached, sha256: listed, source: 'local build' };
    const actual = await this.hash(file);
    if (actual !== listed) return undefined; // a build in progress or a stale SHA256SUMS
    return this.copyIn(file, actual, 'local build');
  }

  private async fromPath(file: string, expected: string | undefined, shownAs: string): Promise<ResolvedImage> {
    await assertReadableFile(file);
    await assertIsoSignature(file, shownAs);
    const listed = await sumsBeside(file);
    if (expected !== undefined && listed !== undefined && expected !== listed) {
      throw checksumMismatch(`${shownAs} (SHA256SUMS beside it)`, expected, listed);
    }
    await this.cache.ensureWritable();
    const known = expected ?? listed;
    if (known !== undefined) {
      const cached = await this.cache.lookup(known, this.fileName);
      if (cached) return { ...cached, sha256: known, source: shownAs };
    }
    const actual = await this.hash(file);
    if (known !== undefined && actual !== known) throw checksumMismatch(shownAs, known, actual);
    const cached = await this.cache.lookup(actual, this.fileName);
    if (cached) return { ...cached, sha256: actual, source: shownAs };
    return this.copyIn(file, actual, shownAs);
  }

  private async copyIn(file: string, sha256: string, source: string): Promise<ResolvedImage> {
    await this.cache.ensureWritable();
    const tmp = await this.cache.copyIn(file);
    try {
      // Hash the copy, not just the source: the source may change while it is copied.
      const actual = await this.hash(tmp);
      if (actual !== sha256) throw checksumMismatch(`${source} (changed while being copied)`, sha256, actual);
      const dest = await this.cache.install(tmp, sha256, this.fileName);
      const entry = await this.cache.lookup(sha256, this.fileName);
      return { path: dest, sha256, source, size: entry?.size ?? 0 };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  private async fromUrl(url: string, explicit: string | undefined): Promise<ResolvedImage> {
    await this.cache.ensureWritable(); // before any network: a cache we cannot fill makes a download pointless
    const net: NetworkOptions = { ...this.opts.network, signal: this.opts.signal };
    const expected = explicit ?? (await this.checksumBeside(url, net));
    const cached = await this.cache.lookup(expected, this.fileName);
    if (cached) return { ...cached, sha256: expected, source: url };

    const part = this.cache.partialPath(expected);
    return this.withPartialLock(part, async () => {
      // Another skiff may have finished this very download while we waited for the lock.
      const done = await this.cache.lookup(expected, this.fileName);
      if (done) return { ...done, sha256: expected, source: url };
      await downloadResumable(url, part, { ...net, onProgress: this.opts.onProgress, cacheDir: this.opts.cacheDir });
      const actual = await this.hash(part);
      if (actual !== expected) {
        await rm(part, { force: true });
        throw checksumMismatch(url, expected, actual);
      }
      try {
        await assertIsoSignature(part, url);
      } catch (e) {
        await rm(part, { force: true });
        throw e;
      }
      const dest = await this.cache.install(part, expected, this.fileName);
      const entry = await this.cache.lookup(expected, this.fileName);
      return { path: dest, sha256: expected, source: url, size: entry?.size ?? 0 };
    });
  }

  /** The checksum from the SHA256SUMS in the same directory as the URL. */
  private async checksumBeside(url: string, net: NetworkOptions): Promise<string> {
    const sumsUrl = new URL('SHA256SUMS', url).toString();
    const name = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
    const text = await fetchText(sumsUrl, net);
    const hint = 'pass the expected checksum with --checksum sha256:HEX';
    if (text === undefined) {
      throw new SkiffError('checksum-required', `no SHA256SUMS beside ${url} to verify it against`, {
        hint,
        exitCode: ExitCode.usage,
      });
    }
    const listed = findInSha256Sums(text, name);
    if (listed === undefined) {
      throw new SkiffError('checksum-required', `${sumsUrl} does not list ${name}`, { hint, exitCode: ExitCode.usage });
    }
    return listed;
  }

  /** One writer per partial download; another skiff downloading the same image is waited for (it may take minutes). */
  private async withPartialLock<T>(part: string, fn: () => Promise<T>): Promise<T> {
    let locked = false;
    try {
      return await withFileLock(
        `${part}.lock`,
        'this image download',
        () => {
          locked = true;
          return fn();
        },
        { waitMs: 30 * 60_000 },
      );
    } catch (e) {
      // Only taking the lock is a cache write of ours; what fn throws is already its own error.
      throw locked ? e : cacheWriteError(e, this.opts.cacheDir, true);
    }
  }

  private async hash(file: string): Promise<string> {
    const meter = new ProgressMeter('verify', this.opts.onProgress);
    try {
      const hex = await sha256File(file, (done, total) => meter.update(done, total, done === total));
      return hex;
    } catch (e) {
      throw new SkiffError('image-unreadable', `cannot read ${file} to verify it: ${(e as Error).message}`, {
        hint: 'check the file and its permissions',
        exitCode: ExitCode.environment,
        cause: e,
      });
    }
  }
}

// Failures that mean "the release cannot be had from here", where building one locally helps.
const RELEASE_UNAVAILABLE = new Set(['unreachable', 'not-found', 'http-error', 'download-failed', 'checksum-required']);

function badSpec(spec: string): SkiffError {
  return new SkiffError('bad-iso', `unsupported image location ${JSON.stringify(spec)}`, {
    hint: 'pass an http(s):// or file:// URL, or a local path, with --iso',
    exitCode: ExitCode.usage,
  });
}
