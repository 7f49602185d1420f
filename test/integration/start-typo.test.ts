import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skiff, snapshot } from '../helpers/cli.js';
import { fakeMachine } from '../helpers/fake-machine.js';

/**
 * `start` makes a machine that does not exist; a typo in `-m` must not boot a
 * second VM of defaults. The real CLI, on a home with machines "web" and "devbox".
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-typo-'));
const home = path.join(root, 'home');

beforeAll(async () => {
  await fakeMachine(home, 'web');
  await fakeMachine(home, 'devbox');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('start -m with a name one slip away from a machine', () => {
  it.each([
    ['wbe', 'web'],
    ['devbxo', 'devbox'],
  ])('start -m %s is refused, naming "%s", and nothing is made', async (typo, meant) => {
    const before = snapshot(home);
    const r = await skiff(['start', '-m', typo, '--home', home]);
    expect(r.code, r.stderr).toBe(3);
    const [first, hint] = r.stderr.split('\n');
    expect(first).toBe(`skiff: error: machine "${typo}" does not exist; did you mean "${meant}"?`);
    expect(hint).toMatch(new RegExp(`skiff start -m ${meant}; .*skiff init -m ${typo}`));
    expect(r.stdout).toBe('');
    expect(snapshot(home)).toEqual(before);
  });

  it('--json: the error is JSON on stdout', async () => {
    const r = await skiff(['start', '-m', 'wbe', '--home', home, '--json']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'no-machine', message: expect.stringContaining('did you mean "web"') } });
  });
});
