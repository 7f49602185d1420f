import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The per-machine lock across real processes (as two `skiff` commands are): holders
 * never overlap, a waiter gets in once the holder is done, and a lock left by a
 * crashed process is taken over instead of blocking forever.
 */
const LOCK = fileURLToPath(new URL('../../dist/machine/lock.js', import.meta.url));
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A separate node process that holds machine NAME's lock for holdMs and logs enter/leave. */
function holder(dir: string, log: string, id: string, holdMs: number, waitMs = 60_000): Promise<{ code: number; stderr: string }> {
  const script = `
    import { appendFileSync } from 'node:fs';
    const { withMachineLock } = await import(${JSON.stringify(LOCK)});
    await withMachineLock(${JSON.stringify(dir)}, 'default', async () => {
      appendFileSync(${JSON.stringify(log)}, 'enter ${id} ' + Date.now() + '\\n');
      await new Promise((r) => setTimeout(r, ${holdMs}));
      appendFileSync(${JSON.stringify(log)}, 'leave ${id} ' + Date.now() + '\\n');
    }, { waitMs: ${waitMs} });
  `;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 120_000 }, (err, _out, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr });
    });
  });
}

describe('machine lock across processes', () => {
  it('4 processes at once: each gets the lock in turn, never two inside', async () => {
    const dir = path.join(root, 'a');
    const log = path.join(root, 'a.log');
    const rs = await Promise.all(['p1', 'p2', 'p3', 'p4'].map((id) => holder(dir, log, id, 400)));
    for (const r of rs) expect(r.code, r.stderr).toBe(0);
    const events = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' '));
    expect(events).toHaveLength(8);
    // Strictly alternating enter/leave of the same holder: no overlap.
    for (let i = 0; i < events.length; i += 2) {
      expect(events[i]![0]).toBe('enter');
      expect(events[i + 1]![0]).toBe('leave');
      expect(events[i + 1]![1]).toBe(events[i]![1]);
    }
    expect(new Set(events.map((e) => e[1])).size).toBe(4);
    expect(existsSync(path.join(dir, '.default.lock'))).toBe(false);
  }, 120_000);

  it('a lock left by a crashed process (not refreshed) is taken over', async () => {
    const dir = path.join(root, 'b');
    const log = path.join(root, 'b.log');
    mkdirSync(path.join(dir, '.default.lock'), { recursive: true });
    const old = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, '.default.lock'), old, old);
    const r = await holder(dir, log, 'after-crash', 10, 30_000);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(log, 'utf8')).toMatch(/enter after-crash/);
  }, 60_000);

  it('a live holder is not taken over: a short-waiting second command fails with a clear busy error', async () => {
    const dir = path.join(root, 'c');
    const log = path.join(root, 'c.log');
    const long = holder(dir, log, 'long', 15_000);
    // Let the first one in.
    for (let i = 0; i < 100 && !existsSync(log); i++) await new Promise((r) => setTimeout(r, 100));
    const short = await holder(dir, log, 'short', 10, 12_000);
    expect(short.code).not.toBe(0);
    expect(short.stderr).toMatch(/machine "default" is busy with another skiff command/);
    expect((await long).code).toBe(0);
    expect(readFileSync(log, 'utf8')).not.toMatch(/short/);
  }, 90_000);
});
