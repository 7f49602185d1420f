import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findInSha256Sums, parseChecksumArg, sha256File } from '../../src/image/checksum.js';
import { parseContentRange } from '../../src/image/download.js';
import { hasIsoSignature } from '../../src/image/iso-signature.js';
import { imageFileName } from '../../src/image/names.js';
import { fakeIso, sha256 } from '../helpers/http-server.js';

const HEX = 'a'.repeat(40) + '0123456789abcdef01234567';

describe('parseChecksumArg', () => {
  it('accepts sha256: with 64 hex digits, in any case, and returns lowercase hex', () => {
    expect(parseChecksumArg(`sha256:${HEX}`)).toBe(HEX);
    expect(parseChecksumArg(`sha256:${HEX.toUpperCase()}`)).toBe(HEX);
  });
  it.each([HEX, `sha1:${HEX}`, 'sha256:', `sha256:${HEX.slice(1)}`, `sha256:${HEX}aa`, `sha256:${'z'.repeat(64)}`, `SHA-256:${HEX}`])(
    'refuses %j with a usage error and a hint',
    (bad) => {
      expect(() => parseChecksumArg(bad)).toThrowError(expect.objectContaining({
        code: 'bad-checksum',
        exitCode: 2,
        hint: expect.stringContaining('64 hex digits'),
      }));
    },
  );
});

describe('findInSha256Sums', () => {
  const text = [
    `${'1'.repeat(64)}  skiff-arm64.iso`,
    `${HEX.toUpperCase()} *skiff-amd64.iso`,
    'garbage line',
    `${'2'.repeat(64)}  ./other.iso`,
    '',
  ].join('\r\n');
  it('finds text and binary mode lines, and ./ prefixed names', () => {
    expect(findInSha256Sums(text, 'skiff-amd64.iso')).toBe(HEX);
    expect(findInSha256Sums(text, 'skiff-arm64.iso')).toBe('1'.repeat(64));
    expect(findInSha256Sums(text, 'other.iso')).toBe('2'.repeat(64));
  });
  it('returns undefined for names not listed (no prefix or suffix matches)', () => {
    expect(findInSha256Sums(text, 'amd64.iso')).toBeUndefined();
    expect(findInSha256Sums(text, 'skiff-amd64.iso.part')).toBeUndefined();
    expect(findInSha256Sums('', 'skiff-amd64.iso')).toBeUndefined();
  });
});

describe('parseContentRange', () => {
  it('parses ranges and unsatisfied ranges', () => {
    expect(parseContentRange('bytes 100-199/1000')).toEqual({ start: 100, end: 199, total: 1000 });
    expect(parseContentRange('bytes */1000')).toEqual({ start: undefined, end: undefined, total: 1000 });
    expect(parseContentRange('bytes 0-9/*')).toEqual({ start: 0, end: 9, total: undefined });
    expect(parseContentRange('items 0-9/10')).toBeUndefined();
    expect(parseContentRange(undefined)).toBeUndefined();
  });
});

describe('image names', () => {
  it('maps the guest arch to the Debian name the build writes', () => {
    expect(imageFileName('x86_64')).toBe('skiff-amd64.iso');
    expect(imageFileName('aarch64')).toBe('skiff-arm64.iso');
  });
});

describe('file checks', () => {
  it('hashes a file with progress and recognises the ISO9660 signature', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-unit-'));
    try {
      const iso = fakeIso(3 * 1024 * 1024 + 5, 2);
      const file = path.join(dir, 'a.iso');
      await writeFile(file, iso);
      const seen: number[] = [];
      expect(await sha256File(file, (done, total) => { expect(total).toBe(iso.length); seen.push(done); })).toBe(sha256(iso));
      expect(seen.at(-1)).toBe(iso.length);
      expect(await hasIsoSignature(file)).toBe(true);
      iso.write('CD002', 0x8001, 'ascii');
      await writeFile(file, iso);
      expect(await hasIsoSignature(file)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
