import { mkdtemp, rm, writeFile, mkdir, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOnPath, installHint, parseQemuVersion } from '../../src/drivers/qemu/binaries.js';
import { foldRunStatus, portFromCommandLine } from '../../src/drivers/qemu/driver.js';
import { parseRunState, readRunState, writeRunState } from '../../src/drivers/qemu/state-file.js';
import { parsePidFile } from '../../src/util/pid-file.js';

describe('parseQemuVersion', () => {
  it('reads Debian and Homebrew version lines', () => {
    expect(parseQemuVersion('QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022')).toBe('7.2.22');
    expect(parseQemuVersion('QEMU emulator version 9.1.0\nCopyright')).toBe('9.1.0');
    expect(parseQemuVersion('qemu-img version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1)')).toBe('8.2.2');
    expect(parseQemuVersion('QEMU emulator version 10.0')).toBe('10.0');
    expect(parseQemuVersion('something else')).toBeUndefined();
  });
});

describe('installHint', () => {
  it('names the Debian package per binary and brew on macOS', () => {
    expect(installHint('qemu-system-x86_64', 'linux')).toMatch(/apt-get install qemu-system-x86\b/);
    expect(installHint('qemu-system-aarch64', 'linux')).toMatch(/apt-get install qemu-system-arm\b/);
    expect(installHint('qemu-img', 'linux')).toMatch(/apt-get install qemu-utils\b/);
    expect(installHint('qemu-img', 'darwin')).toBe('install QEMU: brew install qemu');
  });
});

describe('findOnPath', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-path-'));
    await mkdir(path.join(dir, 'bin'));
    await writeFile(path.join(dir, 'bin', 'tool'), '#!/bin/sh\n');
    await chmod(path.join(dir, 'bin', 'tool'), 0o755);
    await writeFile(path.join(dir, 'bin', 'notexec'), 'x');
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('finds executables only', async () => {
    expect(await findOnPath('tool', `/nonexistent${path.delimiter}${path.join(dir, 'bin')}`)).toBe(path.join(dir, 'bin', 'tool'));
    expect(await findOnPath('notexec', path.join(dir, 'bin'))).toBeUndefined();
    expect(await findOnPath('tool', '')).toBeUndefined();
  });
});

describe('run state file', () => {
  const good = { version: 1, pid: 1234, sshPort: 40022, accel: 'tcg', qmpSocket: '/run/x/qmp.sock', startedAt: '2026-11-25T15:00:00.000Z' };

  it('accepts a complete state', () => {
    expect(parseRunState(JSON.stringify(good))).toEqual(good);
  });

  it('rejects torn, empty or foreign content instead of trusting it', () => {
    expect(parseRunState('')).toBeUndefined();
    expect(parseRunState(JSON.stringify(good).slice(0, 30))).toBeUndefined();
    expect(parseRunState('null')).toBeUndefined();
    expect(parseRunState(JSON.stringify({ ...good, version: 2 }))).toBeUndefined();
    expect(parseRunState(JSON.stringify({ ...good, pid: -1 }))).toBeUndefined();
    expect(parseRunState(JSON.stringify({ ...good, pid: 1.5 }))).toBeUndefined();
    expect(parseRunState(JSON.stringify({ ...good, sshPort: 70000 }))).toBeUndefined();
    expect(parseRunState(JSON.stringify({ ...good, accel: 'xen' }))).toBeUndefined();
    expect(parseRunState(JSON.stringify({ ...good, qmpSocket: '' }))).toBeUndefined();
  });

  it('round-trips through an atomic write', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-state-'));
    try {
      const f = path.join(dir, 'state.json');
      await writeRunState(f, good as Parameters<typeof writeRunState>[1]);
      expect(await readRunState(f)).toEqual(good);
      expect(await readRunState(path.join(dir, 'missing.json'))).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('parses pid files', () => {
    expect(parsePidFile('4242\n')).toBe(4242);
    expect(parsePidFile('')).toBeUndefined();
    expect(parsePidFile('0\n')).toBeUndefined();
    expect(parsePidFile('12ab')).toBeUndefined();
  });
});

describe('command line and status parsing', () => {
  it('recovers the forwarded port from a QEMU command line', () => {
    expect(portFromCommandLine('qemu-system-x86_64 -netdev user,id=n0,hostfwd=tcp:127.0.0.1:41234-:22 -device x')).toBe(41234);
    expect(portFromCommandLine('qemu-system-x86_64 -netdev user,id=n0')).toBeUndefined();
  });

  it('folds QMP run states', () => {
    expect(foldRunStatus('running')).toBe('running');
    expect(foldRunStatus('paused')).toBe('paused');
    // The data disk's werror=stop paused it: paused, not broken (drivers/pause.ts says why).
    expect(foldRunStatus('io-error')).toBe('paused');
    expect(foldRunStatus('shutdown')).toBe('stopping');
    expect(foldRunStatus('prelaunch')).toBe('starting');
    expect(foldRunStatus('internal-error')).toBe('error');
    expect(foldRunStatus('guest-panicked')).toBe('error');
  });
});
