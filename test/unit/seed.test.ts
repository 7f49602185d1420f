import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSeed, renderSettings, SEED_MAGIC, writeSeed } from '../../src/guest/seed.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'skiff-seed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const contents = {
  authorizedKeys: 'ssh-ed25519 AAAAC3Nz test@host',
  hostKeyPrivate: '-----BEGIN OPENSSH PRIVATE KEY-----\nxyz\n-----END OPENSSH PRIVATE KEY-----\n',
  hostKeyPublic: 'ssh-ed25519 AAAAhost guest\n',
  settings: { SKIFF_HOSTNAME: 'dev', SKIFF_NOTE: "it's" },
};

describe('data-disk seed', () => {
  it('starts with the magic and is a plain tar that tar extracts', async () => {
    const file = path.join(dir, 'seed.tar');
    await writeSeed(file, contents);
    const buf = readFileSync(file);
    expect(buf.subarray(0, SEED_MAGIC.length).toString()).toBe(SEED_MAGIC);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const out = path.join(dir, 'x');
    execFileSync('mkdir', ['-p', out]);
    execFileSync('tar', ['-xf', file, '-C', out]);
    expect(readFileSync(path.join(out, 'authorized_keys'), 'utf8')).toBe(contents.authorizedKeys + '\n');
    expect(readFileSync(path.join(out, 'ssh_host_ed25519_key'), 'utf8')).toBe(contents.hostKeyPrivate);
    expect(statSync(path.join(out, 'ssh_host_ed25519_key')).mode & 0o777).toBe(0o600);
    const sourced = execFileSync('sh', ['-c', `. ${path.join(out, 'settings.env')}; printf '%s|%s' "$SKIFF_HOSTNAME" "$SKIFF_NOTE"`], { encoding: 'utf8' });
    expect(sourced).toBe("dev|it's");
  });
  it('is the same bytes for the same input (no timestamps leak in)', async () => {
    expect((await buildSeed(contents)).equals(await buildSeed(contents))).toBe(true);
  });
  it('refuses settings keys the guest shell could misread', () => {
    expect(() => renderSettings({ 'bad key': 'x' })).toThrow();
    expect(() => renderSettings({ 'X;rm': 'x' })).toThrow();
  });
});
