import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Machine } from '../../src/machine/machine.js';
import { fingerprint, publicKeyBlob } from '../../src/ssh/keys.js';
import { candidateAddresses, parseIpAddr } from '../../src/swarm/addresses.js';
import { chooseAddresses } from '../../src/swarm/host-probe.js';
import { skiff } from '../helpers/cli.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';

/**
 * The address choice's I/O (swarm/host-probe.ts) through a real OpenSSH sshd on
 * loopback, logged in as the ssh driver logs in to a remote host (the test
 * sshd's user, with --identity). Both machines are this host, so a worker holds every address the
 * manager has: the case of QEMU guests that all hold 10.0.2.15.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-hostprobe-'));
const home = path.join(root, 'home');
const xdg = path.join(root, 'xdg');
const env: NodeJS.ProcessEnv = {
  SKIFF_HOME: home,
  SKIFF_RUNTIME_DIR: path.join('/tmp', `sk-hp-${process.pid}`),
  SSH_AUTH_SOCK: '',
  HOME: path.join(root, 'user-home'),
};
let sshd: TestSshd;
let engine: http.Server;
/** This host's candidates, read directly. */
const here = candidateAddresses(parseIpAddr(execFileSync('ip', ['-4', '-o', 'addr', 'show', 'scope', 'global'], { encoding: 'utf8' })));

beforeAll(async () => {
  for (const d of [path.join(home, 'machines'), xdg, env.HOME!]) mkdirSync(d, { recursive: true });
  sshd = await startSshd({ env: { XDG_RUNTIME_DIR: xdg } });
  // init proves the engine with GET /version: a stand-in is enough here.
  engine = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(req.url === '/_ping' ? 'OK' : JSON.stringify({ Version: '28.9.9-standin', ApiVersion: '1.48', Os: 'linux', Arch: 'amd64' }));
  });
  await new Promise<void>((r) => engine.listen(path.join(xdg, 'docker.sock'), r));
  const fp = fingerprint(publicKeyBlob(readFileSync(sshd.hostPubPath, 'utf8')));
  for (const m of ['m1', 'm2']) {
    const r = await skiff(['init', '-m', m, '--driver', 'ssh', '--host', `${sshd.user}@127.0.0.1:${sshd.port}`, '--identity', sshd.keyPath, '--host-key', fp], env, 60_000);
    expect(r.code, r.stderr).toBe(0);
  }
}, 120_000);

afterAll(async () => {
  await new Promise((r) => engine?.close(r));
  await sshd?.stop();
  rmSync(root, { recursive: true, force: true });
  rmSync(env.SKIFF_RUNTIME_DIR!, { recursive: true, force: true });
});

const load = (name: string) => Machine.load(home, name);

describe('chooseAddresses over SSH', () => {
  it('a swarm of one takes the first of the host\'s addresses (on a host without one: refused, saying so)', async () => {
    const chosen = chooseAddresses(await load('m1'), [], { managerListens: false });
    if (here.length) await expect(chosen).resolves.toEqual({ manager: here[0], workers: {} });
    else await expect(chosen).rejects.toMatchObject({ message: expect.stringContaining('has no global IPv4 address') });
  });

  it('a worker that holds every address of the manager: refused, each candidate with what the worker said', async () => {
    await expect(chooseAddresses(await load('m1'), [await load('m2')], { managerListens: false })).rejects.toMatchObject({
      code: 'no-advertise-address',
      message: here.length ? `no address of the manager m1 is reachable from every worker: ${here.map((a) => `${a} (m2: holds it itself)`).join('; ')}` : expect.stringContaining('has no global IPv4 address'),
    });
  });

  it('--advertise-addr: not the manager\'s is refused with its addresses; one the worker holds too is refused', async () => {
    await expect(chooseAddresses(await load('m1'), [await load('m2')], { given: '10.9.9.9', managerListens: false })).rejects.toMatchObject({
      code: 'bad-advertise-address',
      message: `--advertise-addr 10.9.9.9 is not an address of the manager m1; its addresses: ${here.join(', ') || 'none'}`,
    });
    if (here.length) {
      await expect(chooseAddresses(await load('m1'), [await load('m2')], { given: here[0], managerListens: false })).rejects.toMatchObject({
        code: 'advertise-address-local',
      });
    }
  });
});
