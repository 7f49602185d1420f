import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { skiff, snapshot } from '../helpers/cli.js';

/**
 * `skiff swarm` and `init --network` refuse bad input with one line, a hint and
 * the usage/not-found exit codes, before anything is written or booted.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-swarmcli-'));
const home = path.join(root, 'home');
mkdirSync(path.join(home, 'machines'), { recursive: true });
const env = { SKIFF_HOME: home };
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function refused(args: string[], code: number, message: RegExp) {
  const before = snapshot(home);
  const r = await skiff(args, env, 60_000);
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.trim().split('\n');
  expect(lines[0]).toMatch(message);
  expect(lines.some((l) => l.startsWith('hint: '))).toBe(true);
  expect(snapshot(home)).toEqual(before);
}

describe('skiff swarm: bad input', () => {
  it('--nodes out of range', () => refused(['swarm', 'up', '--nodes', '0'], 2, /--nodes must be a whole number from 1 to 16/));
  it('a bad swarm name', () => refused(['swarm', 'up', '--name', 'Bad/Name'], 2, /invalid network name/));
  it('--network that is not the swarm', () => refused(['swarm', 'up', '--network', 'other'], 2, /on the network of its name/));
  it('status, down of a swarm that does not exist', async () => {
    await refused(['swarm', 'status', '--name', 'nope'], 3, /there is no swarm "nope"/);
    await refused(['swarm', 'down', '--name', 'nope'], 3, /there is no swarm "nope"/);
  });
  it('rm without --yes', () => refused(['swarm', 'rm'], 2, /deletes all its machines/));
  it('init with a bad network name', () => refused(['init', '-m', 'x', '--network', '../etc'], 2, /invalid network name/));
});
