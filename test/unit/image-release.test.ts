import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePins, readPins, RELEASE_BASE_URL, releaseUrl } from '../../src/image/release.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'skiff-release-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const SUM = 'ab'.repeat(32);

function files(pins: string, version: string): [URL, URL] {
  const dir = mkdtempSync(path.join(tmp, 'pkg-'));
  writeFileSync(path.join(dir, 'release-images.json'), pins);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'skiff', version }));
  return [pathToFileURL(path.join(dir, 'release-images.json')), pathToFileURL(path.join(dir, 'package.json'))];
}

describe('release URLs', () => {
  it('names the asset of this version’s tag', () => {
    expect(releaseUrl('1.2.3', 'skiff-arm64.iso', {})).toBe(`${RELEASE_BASE_URL}/v1.2.3/skiff-arm64.iso`);
    expect(RELEASE_BASE_URL).toMatch(/^https:\/\/github\.com\/[^/]+\/skiff\/releases\/download$/);
  });

  it('SKIFF_RELEASE_BASE_URL moves the base (mirrors, the release rehearsal), with or without a trailing slash', () => {
    expect(releaseUrl('1.2.3', 'skiff-amd64.iso', { SKIFF_RELEASE_BASE_URL: 'http://127.0.0.1:8080/m/' })).toBe('http://127.0.0.1:8080/m/v1.2.3/skiff-amd64.iso');
    expect(releaseUrl('1.2.3', 'skiff-amd64.iso', { SKIFF_RELEASE_BASE_URL: '' })).toBe(`${RELEASE_BASE_URL}/v1.2.3/skiff-amd64.iso`);
  });

  it('refuses a base that is not an http(s) URL, naming the variable', () => {
    for (const bad of ['ftp://x/y', 'not a url', 'http://', 'file:///srv/mirror']) {
      expect(() => releaseUrl('1.2.3', 'skiff-amd64.iso', { SKIFF_RELEASE_BASE_URL: bad }), bad).toThrow(/SKIFF_RELEASE_BASE_URL/);
    }
  });
});

describe('pinned checksums', () => {
  const good = JSON.stringify({ version: '1.2.3', images: { 'skiff-amd64.iso': { sha256: SUM, size: 10 } } });

  it('parses what pin-images writes and rejects anything else', () => {
    expect(parsePins(good)).toEqual({ version: '1.2.3', images: { 'skiff-amd64.iso': { sha256: SUM, size: 10 } } });
    expect(parsePins('{')).toBeUndefined();
    expect(parsePins(JSON.stringify({ version: '1.2.3', images: { 'skiff-amd64.iso': { sha256: 'AB'.repeat(32), size: 10 } } }))).toBeUndefined();
    expect(parsePins(JSON.stringify({ version: '1.2.3', images: { 'skiff-amd64.iso': { sha256: SUM } } }))).toBeUndefined();
    expect(parsePins(JSON.stringify({ images: {} }))).toBeUndefined();
  });

  it('a checkout has no pins; pins of another version or a damaged file are refused', async () => {
    expect(await readPins(new URL('file:///nonexistent/release-images.json'))).toBeUndefined();
    expect(await readPins(...files(good, '1.2.3'))).toMatchObject({ version: '1.2.3' });
    await expect(readPins(...files(good, '1.2.4'))).rejects.toMatchObject({ code: 'release-pins-invalid', message: expect.stringMatching(/skiff 1\.2\.4/) });
    await expect(readPins(...files('garbage', '1.2.3'))).rejects.toMatchObject({ code: 'release-pins-invalid' });
  });
});
