import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';

/** The built CLI with process.platform made 'win32' before skiff's own code runs. */
const AS_WINDOWS = `data:text/javascript,${encodeURIComponent("Object.defineProperty(process, 'platform', { value: 'win32' });")}`;
const home = mkdtempSync(path.join(os.tmpdir(), 'skiff-win-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

function onWindows(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', AS_WINDOWS, BIN, ...args], { env: { ...process.env, SKIFF_HOME: home, NO_COLOR: '1' } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('on Windows', () => {
  it('every command says plainly that Windows is not supported yet, exits 5 and creates nothing', async () => {
    for (const args of [['init'], ['start'], ['shellinit'], ['status']]) {
      const r = await onWindows(args);
      expect(r.code, args.join(' ')).toBe(5);
      expect(r.stderr).toBe('skiff: error: Windows is not supported yet\nhint: run skiff on Linux or macOS for now (WSL 2 can run Docker natively)\n');
    }
    const j = await onWindows(['start', '--json']);
    expect(j.code).toBe(5);
    expect(JSON.parse(j.stdout)).toMatchObject({ error: { code: 'unsupported-platform' } });
    expect(readdirSync(home)).toEqual([]);
  });

  it('version and help still answer', async () => {
    expect((await onWindows(['version'])).code).toBe(0);
    expect((await onWindows(['--help'])).stdout).toMatch(/skiff <command>/);
  });
});
