import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, closeSync, truncateSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  loadCommand,
  mismatch,
  normalizeArgv,
  readSavedRecord,
  removeSavedState,
  saveCommand,
  savedStateFiles,
  savedStateOf,
  sha256File,
  writeSavedRecord,
  zstdVerdict,
  integrityCheck,
  type SavedRecord,
} from '../../src/drivers/qemu/saved-state.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), "skiff saved 'state' "));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const argv = ['-name', 'skiff-default', '-smp', '2', '-m', '2048', '-netdev', 'user,id=n0,hostfwd=tcp:127.0.0.1:40022-:22', '-daemonize'];
const stamp = { size: 10, mtimeMs: 1000, ino: 7 };
const rec: SavedRecord = {
  version: 1,
  savedAt: '2026-12-03T00:00:00.000Z',
  format: 'zstd',
  sizeBytes: 3,
  sha256: 'a'.repeat(64),
  qemu: { binary: '/usr/bin/qemu-system-x86_64', version: '7.2.22' },
  argv,
  files: { dataDisk: stamp, iso: stamp },
};
const now = { qemu: rec.qemu, argv, files: { dataDisk: stamp, iso: stamp } };

describe('what a saved state belongs to', () => {
  it('blanks the SSH port and drops what only the loading run has', () => {
    const loading = [...argv.slice(0, 7), 'user,id=n0,hostfwd=tcp:127.0.0.1:51234-:22', '-daemonize', '-S', '-incoming', 'exec:zstd -dcq x'];
    expect(normalizeArgv(loading)).toEqual(normalizeArgv(argv));
    expect(normalizeArgv(argv)[7]).toBe('user,id=n0,hostfwd=tcp:127.0.0.1:*-:22');
  });

  it('fits the same VM on another port', () => {
    expect(mismatch(rec, { ...now, argv: normalizeArgv([...argv.slice(0, 7), 'user,id=n0,hostfwd=tcp:127.0.0.1:1-:22', '-daemonize']) })).toBeUndefined();
  });

  it('says which setting changed', () => {
    const more = argv.map((a) => (a === '2048' ? '3072' : a));
    expect(mismatch(rec, { ...now, argv: more })).toBe('was saved with other VM settings (2048 then, 3072 now)');
    expect(mismatch(rec, { ...now, argv: [...argv, '-virtfs', 'x'] })).toBe('was saved with other VM settings ((nothing) then, -virtfs now)');
  });

  it('refuses another QEMU, and a data disk or image touched since', () => {
    expect(mismatch(rec, { ...now, qemu: { ...rec.qemu, version: '8.0.0' } })).toMatch(/^was saved by QEMU 7\.2\.22 .* this is QEMU 8\.0\.0/);
    expect(mismatch(rec, { ...now, files: { ...now.files, dataDisk: { ...stamp, mtimeMs: 1001 } } })).toBe('no longer matches the data disk, which changed after the save');
    expect(mismatch(rec, { ...now, files: { dataDisk: stamp } })).toBe('no longer matches the guest image, which changed after the save');
  });
});

describe('the files of a saved state', () => {
  const files = savedStateFiles(tmp);

  it('round-trips the record, and ignores a torn or foreign one', async () => {
    await writeSavedRecord(files.record, rec);
    expect(await readSavedRecord(files.record)).toEqual(rec);
    expect(statSync(files.record).mode & 0o777).toBe(0o600);
    writeFileSync(files.record, JSON.stringify(rec).slice(0, 40));
    expect(await readSavedRecord(files.record)).toBeUndefined();
    writeFileSync(files.record, JSON.stringify({ ...rec, sha256: 'nope' }));
    expect(await readSavedRecord(files.record)).toBeUndefined();
  });

  it('counts as saved only with both the stream and its record', async () => {
    await removeSavedState(files);
    writeFileSync(files.state, 'abc');
    expect(await savedStateOf(files)).toBeUndefined();
    await writeSavedRecord(files.record, rec);
    expect(await savedStateOf(files)).toEqual({ savedAt: rec.savedAt, sizeBytes: 3 });
    await removeSavedState(files);
    expect(await savedStateOf(files)).toBeUndefined();
  });

  it('saves and loads through the shell QEMU runs them with, any path, user-only', async () => {
    const file = path.join(tmp, "it's a $tate");
    const payload = Buffer.from('QEVM'.repeat(50_000));
    for (const zstd of [execFileSync('sh', ['-c', 'command -v zstd']).toString().trim(), undefined]) {
      execFileSync('sh', ['-c', saveCommand(file, zstd)], { input: payload });
      expect(statSync(file).mode & 0o777).toBe(0o600);
      // The marker says the writer finished; a writer that fails leaves none.
      expect(existsSync(`${file}.done`)).toBe(true);
      rmSync(`${file}.done`);
      const failing = saveCommand(path.join(tmp, 'no such dir', 'f'), zstd);
      expect(spawnSync('sh', ['-c', failing], { input: payload }).status).not.toBe(0);
      expect(existsSync(path.join(tmp, 'no such dir', 'f.done'))).toBe(false);
      expect(execFileSync('sh', ['-c', loadCommand(file, zstd)]).equals(payload)).toBe(true);
      rmSync(file);
    }
  });

  it("takes zstd's word on a compressed stream: intact, a byte flipped mid-stream, cut short, or a reader that quit early", async () => {
    const zstd = execFileSync('sh', ['-c', 'command -v zstd']).toString().trim();
    const file = path.join(tmp, 'zstd $tream');
    // Incompressible, so that a flipped byte lands in a literal block: zstd
    // decodes it without complaint, and only the frame checksum at the end can tell.
    const payload = randomBytes(4 << 20);
    const load = () => {
      rmSync(`${file}.loaded`, { force: true });
      return spawnSync('sh', ['-c', loadCommand(file, zstd)], { maxBuffer: 64 << 20 });
    };
    execFileSync('sh', ['-c', saveCommand(file, zstd)], { input: payload, maxBuffer: 64 << 20 });
    expect(load().stdout.equals(payload)).toBe(true);
    expect(await zstdVerdict(file, 2000)).toBe('intact');

    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([0x5a]), 0, 1, statSync(file).size >> 1);
    closeSync(fd);
    expect(load().stdout.length).toBeGreaterThan(0);
    expect(await zstdVerdict(file, 2000)).toBe('damaged');

    execFileSync('sh', ['-c', saveCommand(file, zstd)], { input: payload });
    truncateSync(file, statSync(file).size >> 1);
    load();
    expect(await zstdVerdict(file, 2000)).toBe('damaged');

    // A QEMU that stops reading for its own reasons: zstd dies of SIGPIPE, which says nothing of the file.
    execFileSync('sh', ['-c', saveCommand(file, zstd)], { input: payload });
    rmSync(`${file}.loaded`, { force: true });
    spawnSync('sh', ['-c', `(${loadCommand(file, zstd)}) | head -c 10 >/dev/null`]);
    expect(await zstdVerdict(file, 2000)).toMatch(/^zstd ended with status 141$/);

    rmSync(`${file}.loaded`, { force: true });
    expect(await zstdVerdict(file, 100)).toBe('zstd did not finish within 0.1 s');
  });

  it('calls a zstd stream damaged even when its reader quit before zstd could tell (the CI race)', async () => {
    const zstd = execFileSync('sh', ['-c', 'command -v zstd']).toString().trim();
    const file = path.join(tmp, 'race $tream');
    execFileSync('sh', ['-c', saveCommand(file, zstd)], { input: randomBytes(4 << 20), maxBuffer: 64 << 20 });
    const zrec: SavedRecord = { ...rec, sizeBytes: statSync(file).size };
    // QEMU choking on garbage and closing the pipe: zstd dies of SIGPIPE, saying nothing.
    const quitEarly = () => {
      rmSync(`${file}.loaded`, { force: true });
      spawnSync('sh', ['-c', `(${loadCommand(file, zstd)}) | head -c 10 >/dev/null`]);
    };
    quitEarly();
    expect(await integrityCheck(file, zrec, zstd)(2000)).toBe('zstd ended with status 141');
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, statSync(file).size >> 1);
    closeSync(fd);
    quitEarly();
    expect(await integrityCheck(file, zrec, zstd)(2000)).toBe('damaged');
  });

  it('hashes the stream', async () => {
    writeFileSync(files.state, 'abc');
    expect(await sha256File(files.state)).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(readFileSync(files.state, 'utf8')).toBe('abc');
  });
});
