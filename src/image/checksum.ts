import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { ExitCode, SkiffError } from '../errors.js';

const HEX64 = /^[0-9a-f]{64}$/;

/** Parses `--checksum sha256:HEX` (case-insensitive hex); anything else is a usage error. */
export function parseChecksumArg(arg: string): string {
  const m = /^sha256:([0-9a-fA-F]+)$/.exec(arg.trim());
  const hex = m?.[1]?.toLowerCase();
  if (hex === undefined || !HEX64.test(hex)) {
    throw new SkiffError('bad-checksum', `malformed checksum ${JSON.stringify(arg)}`, {
      hint: 'pass --checksum sha256:HEX with exactly 64 hex digits',
      exitCode: ExitCode.usage,
    });
  }
  return hex;
}

/**
 * Finds NAME in a SHA256SUMS text (`HEX  NAME` or `HEX *NAME`, as sha256sum writes).
 * Returns undefined when NAME is not listed.
 */
export function findInSha256Sums(text: string, name: string): string | undefined {
  for (const raw of text.split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(raw.trim());
    if (!m) continue;
    const listed = m[2]!.replace(/^\.\//, '');
    if (listed === name) return m[1]!.toLowerCase();
  }
  return undefined;
}

export interface HashProgress {
  (transferred: number, total: number): void;
}

/** SHA-256 of a whole file, reporting progress as it reads. */
export async function sha256File(file: string, onProgress?: HashProgress): Promise<string> {
  const total = (await stat(file)).size;
  const hash = createHash('sha256');
  let done = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const buf = chunk as Buffer;
    hash.update(buf);
    done += buf.length;
    onProgress?.(done, total);
  }
  return hash.digest('hex');
}

export function checksumMismatch(what: string, expected: string, actual: string): SkiffError {
  return new SkiffError(
    'checksum-mismatch',
    `checksum mismatch for ${what}: expected sha256:${expected}, got sha256:${actual}`,
    {
      hint: 'the image is corrupt or not the one expected; check the URL/path and --checksum, then try again',
      exitCode: ExitCode.failure,
    },
  );
}
