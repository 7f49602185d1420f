/**
 * The published guest images of this skiff's own version. A release carries
 * `skiff-ARCH.iso` and `SHA256SUMS` as assets of the tag `vVERSION`; the npm
 * package carries `release-images.json`, written at pack time from the images
 * the release uploads (scripts/pin-images.mjs). The pinned checksum, not the
 * server's SHA256SUMS, is what a download is verified against: an asset replaced
 * on the server, together with its SHA256SUMS, is still refused.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ExitCode, SkiffError } from '../errors.js';
import { readTextIfExists } from '../util/exists.js';
import type { Arch } from '../arch.js';
import { imageFileName } from './names.js';

export const RELEASE_BASE_URL = 'https://github.com/skiff-vm/skiff/releases/download';
/** Where mirrors (and the release rehearsal) serve the same layout: BASE/vVERSION/skiff-ARCH.iso. */
export const RELEASE_BASE_ENV = 'SKIFF_RELEASE_BASE_URL';

export interface ReleasePins {
  version: string;
  images: Record<string, { sha256: string; size: number }>;
}

export interface ReleaseImage {
  url: string;
  sha256: string;
}

const PINS_FILE = new URL('../../release-images.json', import.meta.url);
const PACKAGE_FILE = new URL('../../package.json', import.meta.url);

/**
 * The release image for `arch`, or undefined when this skiff carries no pins
 * (a source checkout: its images are built with `npm run iso`).
 */
export async function releaseImage(arch: Arch, env: NodeJS.ProcessEnv = process.env): Promise<ReleaseImage | undefined> {
  const pins = await readPins();
  if (pins === undefined) return undefined;
  const name = imageFileName(arch);
  const pin = pins.images[name];
  if (pin === undefined) return undefined;
  return { url: releaseUrl(pins.version, name, env), sha256: pin.sha256 };
}

/** BASE/vVERSION/NAME, BASE from SKIFF_RELEASE_BASE_URL when set. */
export function releaseUrl(version: string, name: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env[RELEASE_BASE_ENV] || RELEASE_BASE_URL;
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    url = new URL('invalid:');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
    throw new SkiffError('invalid-url', `invalid release base URL ${JSON.stringify(base)} (from ${RELEASE_BASE_ENV})`, {
      hint: `set ${RELEASE_BASE_ENV} to an http(s):// URL whose vVERSION/ folders hold the images, or unset it`,
      exitCode: ExitCode.usage,
    });
  }
  return `${base.replace(/\/+$/, '')}/v${encodeURIComponent(version)}/${name}`;
}

/** The pins, checked against this package's version: pins of another version are never used. */
export async function readPins(file: URL = PINS_FILE, packageFile: URL = PACKAGE_FILE): Promise<ReleasePins | undefined> {
  const text = await readTextIfExists(file);
  if (text === undefined) return undefined;
  const pins = parsePins(text);
  const pkg = JSON.parse(await readFile(packageFile, 'utf8')) as { version: string };
  if (pins === undefined || pins.version !== pkg.version) {
    throw new SkiffError('release-pins-invalid', `release-images.json does not pin images of skiff ${pkg.version}`, {
      hint: 'reinstall skiff (npm install -g skiff); the package is damaged',
      exitCode: ExitCode.environment,
    });
  }
  return pins;
}

const pinsSchema = z.object({
  version: z.string().min(1),
  images: z.record(z.string(), z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().positive() })),
});

export function parsePins(text: string): ReleasePins | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = pinsSchema.safeParse(v);
  return r.success ? r.data : undefined;
}
