import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveSwarmRecord } from '../../src/swarm/record.js';
import { skiff, snapshot } from '../helpers/cli.js';
import { fakeMachine as makeFakeMachine } from '../helpers/fake-machine.js';

/**
 * `skiff swarm up --machines` (a swarm of existing machines) and the commands on
 * such a swarm refuse bad input with one line, a hint and the usage / not-found /
 * conflict exit codes, before any machine is started or any file written.
 * The machines here are configs only: nothing boots.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-swarmmach-'));
const home = path.join(root, 'home');
mkdirSync(path.join(home, 'machines'), { recursive: true });
const env = { SKIFF_HOME: home, SKIFF_RUNTIME_DIR: path.join(root, 'run') };
afterAll(() => rmSync(root, { recursive: true, force: true }));

const fakeMachine = (name: string, network?: string) => makeFakeMachine(home, name, network);

beforeAll(async () => {
  // a..f: the user's machines (e, f in no swarm); s-1, s-2: skiff's own swarm "s"; lab: a recorded swarm of c, d.
  for (const n of ['a', 'b', 'c', 'd', 'e', 'f']) await fakeMachine(n);
  await fakeMachine('s-1', 's');
  await fakeMachine('s-2', 's');
  await saveSwarmRecord(home, { version: 1, name: 'lab', machines: ['c', 'd'], createdAt: new Date().toISOString() });
  // "both" is a recorded swarm and the name of a network with machines on it.
  await fakeMachine('both-1', 'both');
  await saveSwarmRecord(home, { version: 1, name: 'both', machines: ['a'], createdAt: new Date().toISOString() });
  // "gone" names a machine that was deleted since.
  await saveSwarmRecord(home, { version: 1, name: 'gone', machines: ['b', 'deleted'], createdAt: new Date().toISOString() });
});

async function refused(args: string[], code: number, message: RegExp) {
  const before = snapshot(home);
  const r = await skiff(args, env, 60_000);
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.trim().split('\n');
  expect(lines[0]).toMatch(message);
  expect(lines.length, r.stderr).toBe(2);
  expect(lines[1]).toMatch(/^hint: /);
  expect(r.stdout).toBe('');
  expect(snapshot(home)).toEqual(before);
}

describe('skiff swarm up --machines: bad input', () => {
  it('a machine that does not exist (all named at once; nothing else started)', () =>
    refused(['swarm', 'up', '--name', 't', '--machines', 'e,zz,yy'], 3, /^skiff: error: there is no machine "zz", "yy"$/));
  it('a machine named twice', () => refused(['swarm', 'up', '--name', 't', '--machines', 'a,b,a'], 2, /--machines names "a" twice/));
  it('an empty list', () => refused(['swarm', 'up', '--name', 't', '--machines', ''], 2, /--machines needs at least one machine name/));
  it('an invalid name', () => refused(['swarm', 'up', '--name', 't', '--machines', 'a,../x'], 2, /invalid machine name "..\/x"/));
  it('with --nodes', () => refused(['swarm', 'up', '--name', 't', '--machines', 'a,b', '--nodes', '2'], 2, /--machines takes machines that exist: --nodes does not apply/));
  it('with init options', () =>
    refused(['swarm', 'up', '--name', 't', '--machines', 'a,b', '--cpus', '2', '--memory', '1G'], 2, /init options \(cpus, memory\) do not apply/));
  it('an --advertise-addr that is no IPv4 address', () =>
    refused(['swarm', 'up', '--name', 't', '--machines', 'a,b', '--advertise-addr', 'eth0'], 2, /--advertise-addr "eth0" is not an IPv4 address/));
  it('--advertise-addr without --machines, for a swarm skiff makes', () =>
    refused(['swarm', 'up', '--name', 't', '--advertise-addr', '10.0.0.1'], 2, /--advertise-addr is for a swarm of existing machines/));
  it("a machine already in another swarm's record", () =>
    refused(['swarm', 'up', '--name', 't', '--machines', 'e,d'], 4, /machine "d" is in swarm "lab" already/));
  it('a node of a swarm skiff made (S-k on network S)', () =>
    refused(['swarm', 'up', '--name', 't', '--machines', 'e,s-2'], 4, /machine "s-2" is a node of swarm "s"/));
  it("a recorded swarm given another list than its own", () =>
    refused(['swarm', 'up', '--name', 'lab', '--machines', 'd,c'], 4, /swarm "lab" is made of c, d, not d, c/));
  it("--machines for the name of skiff's own swarm", () =>
    refused(['swarm', 'up', '--name', 's', '--machines', 'e,f'], 4, /swarm "s" is skiff's own, on network "s" \(s-1, s-2\)/));
  it('a recorded swarm brought up again with --nodes or init options', async () => {
    await refused(['swarm', 'up', '--name', 'lab', '--nodes', '3'], 2, /swarm "lab" is made of existing machines \(c, d\): --nodes does not apply/);
    await refused(['swarm', 'up', '--name', 'lab', '--disk', '30G'], 2, /init options \(disk\) do not apply/);
  });
  it('a recorded member deleted since', () => refused(['swarm', 'up', '--name', 'gone'], 3, /^skiff: error: there is no machine "deleted"$/));
});

describe('skiff swarm status|down|rm on a swarm of existing machines: bad input', () => {
  it('a name that is both a network with machines and a recorded swarm, for every command', async () => {
    for (const cmd of [['up'], ['status'], ['down'], ['rm', '--yes']]) {
      await refused(['swarm', ...cmd, '--name', 'both'], 4, /"both" names two swarms: the machines on network "both" \(both-1\) and one of existing machines \(a\)/);
    }
  });
  it('status with a member deleted since', () => refused(['swarm', 'status', '--name', 'gone'], 3, /swarm "gone" names machine "deleted", which no longer exists/));
  it('rm without --yes says the machines are kept', () =>
    refused(['swarm', 'rm', '--name', 'lab'], 2, /removing swarm "lab" makes c, d leave it \(its services go\); the machines are kept/));
  it('rm of a swarm whose machines were all deleted forgets it, saying so (off a terminal too)', async () => {
    await saveSwarmRecord(home, { version: 1, name: 'allgone', machines: ['x1', 'x2'], createdAt: new Date().toISOString() });
    const r = await skiff(['swarm', 'rm', '--yes', '--name', 'allgone'], env, 60_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('Swarm "allgone" forgotten; x1, x2 no longer existed');
    expect(existsSync(path.join(home, 'swarms', 'allgone.yaml'))).toBe(false);
    const json = await skiff(['swarm', 'status', '--name', 'allgone', '--json'], env, 60_000);
    expect(json.code).toBe(3);
  });
  it('rm while a member is not running: nothing leaves, the record stays', () =>
    refused(['swarm', 'rm', '--yes', '--name', 'lab'], 4, /c, d of swarm "lab" are not serving, so cannot leave the swarm/));
});
