import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { followConsole, parseMarker } from '../../src/machine/console-watch.js';

describe('console markers', () => {
  it.each([
    ['SKIFF-STAGE modules 2.31', { kind: 'stage', name: 'modules', uptime: 2.31 }],
    ['[    3.1] random: crng init done SKIFF-STAGE sshd 3.90\r', { kind: 'stage', name: 'sshd', uptime: 3.9 }],
    ['SKIFF-READY 12.5', { kind: 'ready', uptime: 12.5 }],
    ['SKIFF-ERROR disk fsck failed (exit 8)', { kind: 'error', what: 'disk', message: 'fsck failed (exit 8)' }],
    ['SKIFF-POWEROFF 99.1', { kind: 'poweroff', uptime: 99.1 }],
  ])('%j', (line, want) => expect(parseMarker(line)).toEqual(want));
  it('ignores other lines', () => expect(parseMarker('Linux version 6.12')).toBeUndefined());

  const dir = mkdtempSync(path.join(os.tmpdir(), 'skiff-console-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it("ignores what the file held before (a previous boot's error), then reads a rotated file from its start", async () => {
    const file = path.join(dir, 'old.log');
    writeFileSync(file, 'SKIFF-ERROR disk old failure\n');
    const c = await followConsole(file);
    expect(await c.read()).toEqual([]);
    renameSync(file, file + '.1'); // what the QEMU driver does at start
    writeFileSync(file, 'SKIFF-STAGE init 0.5\n');
    expect(await c.read()).toEqual([{ kind: 'stage', name: 'init', uptime: 0.5 }]);
  });

  it('follows a growing file, including a line written in two parts', async () => {
    const file = path.join(dir, 'console.log');
    const c = await followConsole(file);
    const seen = [...(await c.read())];
    writeFileSync(file, 'boot\nSKIFF-STAGE init 1.0\nSKIFF-STA');
    seen.push(...(await c.read()));
    appendFileSync(file, 'GE disk 2.0\nSKIFF-READY 3.0\n');
    seen.push(...(await c.read()));
    expect(seen.map((m) => m.kind + (m.kind === 'stage' ? ':' + m.name : ''))).toEqual(['stage:init', 'stage:disk', 'ready']);
  });
});
