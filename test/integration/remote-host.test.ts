import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint, publicKeyBlob } from '../../src/ssh/keys.js';
import { skiff, snapshot } from '../helpers/cli.js';
import { freePort, startSshd, type TestSshd } from '../helpers/sshd.js';
import { skiffOnTty } from '../helpers/tty.js';

/**
 * issue 25: the ssh driver against a real OpenSSH sshd on loopback, whose
 * "engine" is a stand-in answering /_ping and /version on a unix socket in the
 * login's XDG_RUNTIME_DIR (where a rootless engine's socket is). The real
 * engine, published ports, a dropped link and Swarm are in test/e2e/remote.test.ts,
 * against QEMU guests. Here: init's host key acceptance and every refusal, each
 * leaving nothing under SKIFF_HOME; start, status, list, stop and delete.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-remote-'));
const home = path.join(root, 'home');
const xdg = path.join(root, 'xdg');
const env: NodeJS.ProcessEnv = {
  SKIFF_HOME: home,
  SKIFF_RUNTIME_DIR: path.join('/tmp', `sk-rh-${process.pid}`),
  DOCKER_CONFIG: path.join(root, 'docker-config'),
  // Init must not fall back on the developer's own agent or ~/.ssh keys.
  SSH_AUTH_SOCK: '',
  HOME: path.join(root, 'user-home'),
};
let sshd: TestSshd;
let engine: http.Server;
let hostFp = '';
let where = '';
let versions = 0;

beforeAll(async () => {
  mkdirSync(path.join(home, 'machines'), { recursive: true });
  mkdirSync(xdg, { recursive: true });
  mkdirSync(env.HOME!, { recursive: true });
  sshd = await startSshd({ env: { XDG_RUNTIME_DIR: xdg } });
  engine = http.createServer((req, res) => {
    if (req.url === '/_ping') {
      res.end('OK');
      return;
    }
    if (req.url?.endsWith('/version')) {
      versions++;
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ Version: '28.9.9-standin', ApiVersion: '1.48', Os: 'linux', Arch: 'amd64' }));
      return;
    }
    res.statusCode = 404;
    res.end('{"message":"not here"}');
  });
  await new Promise<void>((r) => engine.listen(path.join(xdg, 'docker.sock'), r));
  hostFp = fingerprint(publicKeyBlob(readFileSync(sshd.hostPubPath, 'utf8')));
  where = `${sshd.user}@127.0.0.1:${sshd.port}`;
});

afterAll(async () => {
  await skiff(['stop', '-m', 'rh'], env).catch(() => undefined);
  await new Promise((r) => engine?.close(r));
  await sshd?.stop();
  rmSync(root, { recursive: true, force: true });
  rmSync(env.SKIFF_RUNTIME_DIR!, { recursive: true, force: true });
});

function init(name: string, extra: string[], e: NodeJS.ProcessEnv = env) {
  return skiff(['init', '-m', name, '--driver', 'ssh', '--host', where, ...extra], e, 60_000);
}

/** The one-line error on stderr, a non-zero code, and nothing written under SKIFF_HOME. */
async function refused(run: () => Promise<{ code: number; stderr: string }>, code: number, pattern: RegExp): Promise<string> {
  const before = snapshot(home);
  const r = await run();
  expect(r.stderr).toMatch(pattern);
  expect(r.code).toBe(code);
  expect(snapshot(home)).toEqual(before);
  return r.stderr;
}

describe('skiff init --driver ssh: the host key', () => {
  it('refuses, in a run that cannot ask, a key nobody accepted, and shows its fingerprint', async () => {
    const err = await refused(() => init('rh', ['--identity', sshd.keyPath]), 2, /offers host key SHA256:\S+ \(ssh-ed25519\); skiff pins a host key only once you confirm it/);
    expect(err).toContain(hostFp);
    expect(err).toContain(`--host-key ${hostFp}`);
  });

  it('refuses a fingerprint that does not match, before sending any key', async () => {
    const other = fingerprint(publicKeyBlob(readFileSync(sshd.otherHostPubPath, 'utf8')));
    const literal = (t: string) => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    await refused(() => init('rh', ['--identity', sshd.keyPath, '--host-key', other]), 4, new RegExp(`offers host key ${literal(hostFp)} .*not ${literal(other)} as --host-key says; refusing to connect`));
  });

  it('asks on a terminal: "n" saves nothing, "y" pins the key', async () => {
    const before = snapshot(home);
    const no = await skiffOnTty(['init', '-m', 'tty', '--host', where, '--identity', sshd.keyPath], env, 60_000, { input: 'n\n' });
    expect(no.output).toContain(`The host key of ${sshd.user}@127.0.0.1:${sshd.port} is ssh-ed25519 ${hostFp}`);
    expect(no.output).toMatch(/not accepted: nothing saved/);
    expect(no.code).toBe(2);
    expect(snapshot(home)).toEqual(before);

    const yes = await skiffOnTty(['init', '-m', 'tty', '--host', where, '--identity', sshd.keyPath], env, 60_000, { input: 'y\n' });
    expect(yes.output).toContain('Created machine "tty"');
    expect(yes.code).toBe(0);
    const pinned = readFileSync(path.join(home, 'machines', 'tty', 'ssh_host_ed25519_key.pub'), 'utf8');
    expect(fingerprint(publicKeyBlob(pinned))).toBe(hostFp);
    expect((await skiff(['delete', '-y', '-m', 'tty'], env)).code).toBe(0);
  });
});

describe('skiff init --driver ssh: bad input changes nothing', () => {
  it('an unreachable host', async () => {
    const port = await freePort();
    await refused(() => skiff(['init', '-m', 'rh', '--host', `${sshd.user}@127.0.0.1:${port}`, '--identity', sshd.keyPath, '--host-key', hostFp], env), 6, /cannot reach .*127\.0\.0\.1:\d+ over SSH: ECONNREFUSED/);
  });

  it('a wrong user: refused login, and no password is ever tried', async () => {
    await refused(
      () => skiff(['init', '-m', 'rh', '--host', `nosuchuser@127.0.0.1:${sshd.port}`, '--identity', sshd.keyPath, '--host-key', hostFp], env),
      6,
      /nosuchuser@127\.0\.0\.1:\d+ refused the login: it accepted none of the identity file/,
    );
  });

  it('no key at all: no agent, no --identity, no default key', async () => {
    await refused(() => init('rh', ['--host-key', hostFp]), 2, /no SSH key to log in with/);
  });

  it('a key locked by a passphrase', async () => {
    const locked = path.join(root, 'locked');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret', '-f', locked]);
    await refused(() => init('rh', ['--identity', locked, '--host-key', hostFp]), 2, /is locked by a passphrase/);
  });

  it('a public key given as the identity', async () => {
    await refused(() => init('rh', ['--identity', `${sshd.keyPath}.pub`, '--host-key', hostFp]), 2, /id_ed25519\.pub is a public key, not a private one/);
  });

  it('no engine at the socket given', async () => {
    await refused(() => init('rh', ['--identity', sshd.keyPath, '--host-key', hostFp, '--engine-socket', '/run/skiff-test/nothing.sock']), 3, /\/run\/skiff-test\/nothing\.sock on .* does not exist/);
  });

  it('no engine found where one is looked for', async () => {
    // This sshd's sessions have no XDG_RUNTIME_DIR engine: a second server, none in it.
    const empty = path.join(root, 'xdg-empty');
    mkdirSync(empty, { recursive: true });
    const bare = await startSshd({ env: { XDG_RUNTIME_DIR: empty } });
    try {
      const fp = fingerprint(publicKeyBlob(readFileSync(bare.hostPubPath, 'utf8')));
      const args = ['init', '-m', 'rh', '--host', `${bare.user}@127.0.0.1:${bare.port}`, '--identity', bare.keyPath, '--host-key', fp];
      // Skipped only where this machine itself has a rootful engine socket (CI has none: it installs the docker CLI alone).
      if (!existsSync('/var/run/docker.sock')) await refused(() => skiff(args, env), 3, /no Docker engine on .*: neither a rootless socket/);
    } finally {
      await bare.stop();
    }
  });

  it('a socket that is no engine', async () => {
    const notEngine = path.join(xdg, 'not-an-engine.sock');
    const s = http.createServer((_q, r) => r.end('hello'));
    await new Promise<void>((r) => s.listen(notEngine, r));
    try {
      await refused(() => init('rh', ['--identity', sshd.keyPath, '--host-key', hostFp, '--engine-socket', notEngine]), 5, /does not answer: its answer to GET \/version is not JSON/);
    } finally {
      await new Promise((r) => s.close(r));
    }
  });

  it.each([
    ['VM settings', ['--cpus', '4'], /--cpus is a setting of a VM, not of an existing host/],
    ['another driver', ['--driver', 'qemu'], /--host names an existing host, which the qemu driver cannot use/],
    ['a bad host', ['--host', 'pi@bad host'], /--host "pi@bad host" has no valid host name/],
    ['a bad port', ['--host', 'pi@h:99999'], /has no valid port/],
    ['--host twice', ['--host', where, '--host', where], /--host is given more than once/],
    ['a bad fingerprint', ['--host-key', 'MD5:aa:bb'], /--host-key "MD5:aa:bb" is not a SHA256 fingerprint/],
  ])('%s', async (_what, args, pattern) => {
    const host = args.includes('--host') ? [] : ['--host', where];
    await refused(() => skiff(['init', '-m', 'rh', ...host, '--identity', sshd.keyPath, ...args], env), 2, pattern);
  });

  it('the ssh driver without --host', async () => {
    await refused(() => skiff(['init', '-m', 'rh', '--driver', 'ssh'], env), 2, /needs --host USER@HOST/);
  });
});

describe('a machine of a remote host', () => {
  it('init finds the rootless socket, and start serves the engine through the agent', async () => {
    const r = await init('rh', ['--identity', sshd.keyPath, '--host-key', hostFp, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const made = JSON.parse(r.stdout) as { remote: { engineSocket: string; user: string }; hostKey: string; engine: { version: string } };
    expect(made.remote.engineSocket).toBe(path.join(xdg, 'docker.sock'));
    expect(made.hostKey).toBe(hostFp);
    expect(made.engine.version).toBe('28.9.9-standin');

    const start = await skiff(['start', '-m', 'rh'], env, 60_000);
    expect(start.stderr).toBe('');
    expect(start.code).toBe(0);
    const st = JSON.parse((await skiff(['status', '-m', 'rh', '--json'], env)).stdout) as {
      state: string;
      driver: string;
      remote: { hostKey: string; auth: string };
      agent: { state: string };
      engine: { version: string };
      socket: string;
      cpus?: number;
    };
    expect(st).toMatchObject({ state: 'running', driver: 'ssh', agent: { state: 'running' }, engine: { version: '28.9.9-standin' } });
    expect(st.remote).toMatchObject({ hostKey: hostFp, auth: `identity ${sshd.keyPath}` });
    expect(st.cpus).toBeUndefined();
    // The engine answers on the local socket, through the agent's SSH link.
    const seen = versions;
    const body = await new Promise<string>((resolve, reject) => {
      http.get({ socketPath: st.socket, path: '/version' }, (res) => {
        let t = '';
        res.on('data', (d) => (t += d));
        res.on('end', () => resolve(t));
      }).on('error', reject);
    });
    expect(JSON.parse(body)).toMatchObject({ Version: '28.9.9-standin' });
    expect(versions).toBeGreaterThan(seen);

    const list = JSON.parse((await skiff(['list', '--json'], env)).stdout) as Array<{ name: string; state: string; host?: string }>;
    expect(list.find((m) => m.name === 'rh')).toMatchObject({ state: 'running', host: where });
    const shell = await skiff(['shellinit', '-m', 'rh'], env);
    expect(shell.stdout).toContain(`unix://${st.socket}`);
    const ssh = await skiff(['ssh', '-m', 'rh', '--', 'echo', 'on', 'the', 'host'], env);
    expect(ssh.stdout.trim()).toBe('on the host');
    // The host keeps its own clock: the agent never runs a clock command there.
    const log = readFileSync(path.join(home, 'machines', 'rh', 'agent.log'), 'utf8');
    expect(log).toMatch(/forwarding to .*:.*docker\.sock/);
    expect(log).not.toMatch(/clock/i);
  }, 120_000);

  it('logs show the agent log; there is no console of a remote host', async () => {
    const l = await skiff(['logs', '-m', 'rh'], env);
    expect(l.code).toBe(0);
    expect(l.stdout).toMatch(/ssh connected/);
    expect(l.stdout).not.toMatch(/console/);
    const c = await skiff(['logs', '--console', '-m', 'rh'], env);
    expect(c.stderr).toMatch(/machine "rh" is a remote host: skiff has no console of it/);
    expect(c.code).toBe(2);
  });

  it('suspend and upgrade are refused: the host is not a VM', async () => {
    const s = await skiff(['suspend', '-m', 'rh'], env);
    expect(s.stderr).toMatch(/machine "rh" is a remote host .*: skiff does not suspend it/);
    expect(s.code).toBe(4);
    const u = await skiff(['upgrade', '-m', 'rh'], env);
    expect(u.stderr).toMatch(/skiff does not upgrade it/);
    expect(u.code).toBe(4);
  });

  it('stop disconnects and leaves the host running; start connects again', async () => {
    const stop = await skiff(['stop', '-m', 'rh'], env, 60_000);
    expect(stop.code).toBe(0);
    const st = JSON.parse((await skiff(['status', '-m', 'rh', '--json'], env)).stdout) as { state: string; agent: { state: string } };
    expect(st).toMatchObject({ state: 'stopped', agent: { state: 'stopped' } });
    expect(sshd.pid()).toBeDefined();
    expect(existsSync(path.join(xdg, 'docker.sock'))).toBe(true);
    expect((await skiff(['start', '-m', 'rh'], env, 60_000)).code).toBe(0);
  }, 120_000);

  it('a host key that changed later is refused, with what to do', async () => {
    expect((await skiff(['stop', '-m', 'rh'], env, 60_000)).code).toBe(0);
    const pinned = path.join(home, 'machines', 'rh', 'ssh_host_ed25519_key.pub');
    const kept = readFileSync(pinned);
    // From the client's side a reinstalled host and a replaced pin look the same: the key offered is not the one pinned.
    writeFileSync(pinned, readFileSync(sshd.otherHostPubPath));
    try {
      const r = await skiff(['start', '-m', 'rh'], env, 60_000);
      expect(r.stderr).toMatch(/the remote host's host key changed: expected SHA256:\S+, got SHA256:\S+ from 127\.0\.0\.1:\d+; refusing to connect/);
      expect(r.stderr).toMatch(/ssh-keygen -lf/);
      expect(r.code).toBe(4);
      const st = JSON.parse((await skiff(['status', '-m', 'rh', '--json'], env)).stdout) as { state: string };
      expect(st.state).toBe('stopped');
    } finally {
      writeFileSync(pinned, kept);
    }
  }, 120_000);

  it('logs in through the SSH agent when no identity is given', async () => {
    const sock = path.join(root, 'agent.sock');
    const agent: ChildProcess = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 50 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
      execFileSync('ssh-add', ['-q', sshd.keyPath], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
      const withAgent = { ...env, SSH_AUTH_SOCK: sock };
      const r = await init('ag', ['--host-key', hostFp, '--json'], withAgent);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout).remote.identity).toBeUndefined();
      expect((await skiff(['start', '-m', 'ag'], withAgent, 60_000)).code).toBe(0);
      const st = JSON.parse((await skiff(['status', '-m', 'ag', '--json'], withAgent)).stdout) as { agent: { state: string }; remote: { auth: string } };
      expect(st).toMatchObject({ agent: { state: 'running' }, remote: { auth: 'SSH agent' } });
      // Without an agent in the shell, start says so instead of failing to log in.
      expect((await skiff(['stop', '-m', 'ag'], withAgent)).code).toBe(0);
      const none = await skiff(['start', '-m', 'ag'], env, 60_000);
      expect(none.stderr).toMatch(/logs in with your SSH agent, but none runs in this shell/);
      expect(none.code).toBe(5);
    } finally {
      await skiff(['delete', '-y', '-m', 'ag'], env);
      agent.kill();
    }
  }, 120_000);

  it('delete forgets the machine and touches nothing on the host', async () => {
    const r = await skiff(['delete', '-y', '-m', 'rh'], env, 60_000);
    expect(r.code).toBe(0);
    expect(existsSync(path.join(home, 'machines', 'rh'))).toBe(false);
    expect(existsSync(path.join(xdg, 'docker.sock'))).toBe(true);
    expect(readFileSync(path.join(sshd.dir, 'authorized_keys'), 'utf8')).toContain('test-client');
  }, 60_000);
});
