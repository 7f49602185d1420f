import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findVirtiofsd } from '../../src/drivers/qemu/share-fs.js';
import { startVirtiofsd, stopVirtiofsds, virtiofsdFiles } from '../../src/drivers/qemu/virtiofsd.js';
import { processCommandLine } from '../../src/util/process-alive.js';

/**
 * The real virtiofsd, started the way the QEMU driver starts it (no QEMU: it
 * listens until a VM connects), then ended with nothing left behind.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-vfsd-'));
const runDir = path.join(root, 'run');
const source = path.join(root, 'a share, with "commas" ü');
mkdirSync(runDir, { mode: 0o700 });
mkdirSync(source);
afterAll(async () => {
  await stopVirtiofsds(runDir);
  rmSync(root, { recursive: true, force: true });
});

const binary = await findVirtiofsd(process.env);

describe('virtiofsd under skiff', () => {
  // Not skipped where it is missing: CI installs it (Debian: qemu-system-common), and a skip would hide that it broke.
  beforeAll(() => {
    if (binary === undefined) throw new Error('no virtiofsd on this host: install qemu-system-common (Debian) or set SKIFF_VIRTIOFSD');
  });

  it('listens on its socket in the runtime dir, names it on its command line, and stopVirtiofsds ends it and its files', async () => {
    const log = path.join(root, 'virtiofsd.log');
    const share = { hostPath: source, guestPath: '/s', readOnly: true, tag: 'share0' };
    await startVirtiofsd({ binary: binary!, runDir, index: 0, share, log });
    const { socket, pidFile } = virtiofsdFiles(runDir, 0);
    expect(statSync(socket).isSocket()).toBe(true);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(await processCommandLine(pid)).toContain(`--socket-path=${socket}`);
    expect(await processCommandLine(pid)).toContain('a share\\, with "commas" ü');
    await stopVirtiofsds(runDir);
    expect(await processCommandLine(pid)).toBeUndefined();
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
  });

  it('says what virtiofsd said when it cannot start', async () => {
    const share = { hostPath: path.join(root, 'missing'), guestPath: '/s', readOnly: false, tag: 'share1' };
    await expect(startVirtiofsd({ binary: binary!, runDir, index: 1, share, log: path.join(root, 'bad.log') })).rejects.toThrow(/virtiofsd for .*missing did not start \(exit \d+\)/);
    expect(existsSync(virtiofsdFiles(runDir, 1).socket)).toBe(false);
  });
});
