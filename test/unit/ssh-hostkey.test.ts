import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SkiffError } from '../../src/errors.js';
import { hostKeyChangedError, isHostKeyChanged, loadPinnedHostKey } from '../../src/ssh/hostkey.js';
import { fingerprint, generateEd25519, publicKeyBlob } from '../../src/ssh/keys.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-hk-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('pinned host keys', () => {
  it('loads the blob and fingerprint of a .pub file', async () => {
    const k = generateEd25519('guest');
    const file = path.join(dir, 'host.pub');
    await writeFile(file, k.public);
    const pinned = await loadPinnedHostKey(file);
    expect(pinned.blob.equals(publicKeyBlob(k.public))).toBe(true);
    expect(pinned.fingerprint).toBe(fingerprint(publicKeyBlob(k.public)));
  });

  it('a missing .pub file is a SkiffError with a hint', async () => {
    const err = await loadPinnedHostKey(path.join(dir, 'nope.pub')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SkiffError);
    expect((err as SkiffError).hint).toMatch(/skiff init/);
  });

  it('a changed key error names both fingerprints on one line', () => {
    const a = publicKeyBlob(generateEd25519('a').public);
    const b = publicKeyBlob(generateEd25519('b').public);
    const err = hostKeyChangedError({ blob: a, fingerprint: fingerprint(a) }, b);
    expect(err.message).toContain(fingerprint(a));
    expect(err.message).toContain(fingerprint(b));
    expect(err.message).not.toContain('\n');
    expect(isHostKeyChanged(err)).toBe(true);
  });
});
