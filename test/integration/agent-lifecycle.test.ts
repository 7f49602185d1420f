import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agentStatus, startAgent, stopAgent, agentPathsOf } from '../../src/agent/control.js';
import type { AgentSpec } from '../../src/agent/spec.js';
import { readAgentState, type AgentState } from '../../src/agent/state.js';
import { agentFixture, httpGet, roundTrip, type AgentFixture, until } from '../helpers/agent-fixture.js';

let fx: AgentFixture;
const started: AgentSpec[] = [];

beforeAll(async () => {
  fx = await agentFixture();
}, 90_000);

afterEach(async () => {
  for (const s of started.splice(0)) await stopAgent(agentPathsOf(s));
});

afterAll(async () => {
  await fx?.cleanup();
});

async function start(spec: AgentSpec): Promise<number> {
  started.push(spec);
  return startAgent(spec, { entry: fx.agent.entry, timeoutMs: 20_000 });
}


function deadPid(): Promise<number> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['-e', '0']);
    c.on('exit', () => resolve(c.pid!));
  });
}

describe('agent lifecycle', () => {
  it('refuses a changed host key: exits, says so in its log and state, serves nothing', async () => {
    const spec = fx.spec('badkey', { hostPubPath: fx.sshd.otherHostPubPath, remoteSocket: fx.pingPath });
    const err = await start(spec).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/host key changed: expected SHA256:\S+, got SHA256:\S+/);
    expect(readFileSync(spec.logPath, 'utf8')).toMatch(/refusing to connect: the guest's host key changed/);
    const state = await readAgentState(spec.statePath);
    expect(state?.state).toBe('failed');
    expect(existsSync(spec.socketPath)).toBe(false);
    expect(existsSync(spec.pidPath)).toBe(false);
    const st = await agentStatus(agentPathsOf(spec));
    expect(st.state).toBe('stale');
    expect(st.detail).toMatch(/host key changed/);
  });

  it('reconnects by itself after the sshd is killed and restarted on the same port', async () => {
    const spec = fx.spec('recon', { remoteSocket: fx.pingPath });
    await start(spec);
    expect((await httpGet(spec.socketPath, '/_ping')).body).toBe('OK');
    // A client connected through the link when it drops is closed, not left dangling.
    const idle = net.connect(spec.socketPath);
    idle.on('error', () => {});
    const idleClosed = new Promise((r) => idle.once('close', r));
    await new Promise((r) => idle.once('connect', r));
    await new Promise((r) => setTimeout(r, 200));

    await fx.sshd.kill();
    await idleClosed;
    await until('the agent to notice the drop', async () => {
      const s = await readAgentState(spec.statePath);
      return s?.state === 'reconnecting' ? s : undefined;
    });
    // Once the link was up, a client that comes while it is down (a paused VM) waits
    // for it and is then served, instead of failing.
    const during = httpGet(spec.socketPath, '/_ping').then(
      (r) => r.body,
      (e: NodeJS.ErrnoException) => e.code ?? e.message,
    );
    await new Promise((r) => setTimeout(r, 500));

    await fx.sshd.restart();
    expect(await during).toBe('OK');
    await until('the agent to reconnect', async () => {
      const s = await readAgentState(spec.statePath);
      return s?.state === 'connected' ? s : undefined;
    });
    expect((await httpGet(spec.socketPath, '/_ping')).body).toBe('OK');
    expect(readFileSync(spec.logPath, 'utf8')).toMatch(/ssh reconnecting: SSH link lost/);
  }, 60_000);

  it('started while the guest sshd is not up yet, connects as soon as it is', async () => {
    const spec = fx.spec('boot', { remoteSocket: fx.pingPath });
    await fx.sshd.kill();
    // sshd comes back only once the agent has been refused, however slowly a loaded machine starts it.
    const restart = until('the agent to be refused', async () => (existsSync(spec.logPath) && /ssh connecting: .*ECONNREFUSED/.test(readFileSync(spec.logPath, 'utf8')) ? true : undefined)).then(() =>
      fx.sshd.restart(),
    );
    const pid = await start(spec);
    await restart;
    expect(pid).toBeGreaterThan(0);
    expect((await httpGet(spec.socketPath, '/_ping')).body).toBe('OK');
  }, 30_000);

  it('notices a link that went silent (no FIN) by keepalive and reconnects', async () => {
    const spec = fx.spec('silent', { remoteSocket: fx.pingPath, keepaliveIntervalMs: 300, keepaliveCountMax: 2 });
    await start(spec);
    const frozen = fx.sshd.sessionPids();
    expect(frozen.length).toBeGreaterThan(0);
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    try {
      // The drop and the reconnect can be milliseconds apart: the log keeps both.
      await until('a keepalive timeout and a reconnect', async () =>
        /SSH link lost: Keepalive timeout[^]*ssh connected/.test(readFileSync(spec.logPath, 'utf8')) ? true : undefined,
      );
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGKILL');
    }
    // The state file is written just after the log line: wait for it rather than race it.
    await until('the state file to say connected', async () => ((await readAgentState(spec.statePath))?.state === 'connected' ? true : undefined));
    expect((await httpGet(spec.socketPath, '/_ping')).body).toBe('OK');
  }, 30_000);

  it('removes its socket, pid and state files on SIGTERM', async () => {
    const spec = fx.spec('term');
    const pid = await start(spec);
    expect(existsSync(spec.socketPath) && existsSync(spec.pidPath) && existsSync(spec.statePath)).toBe(true);
    process.kill(pid, 'SIGTERM');
    await until('the files to go', async () =>
      existsSync(spec.socketPath) || existsSync(spec.pidPath) || existsSync(spec.statePath) ? undefined : true,
    );
    expect(readFileSync(spec.logPath, 'utf8')).toMatch(/SIGTERM received/);
    expect((await agentStatus(agentPathsOf(spec))).state).toBe('stopped');
  });

  it('starts over a stale socket file and a stale pid file of a dead process', async () => {
    const spec = fx.spec('stale', { remoteSocket: fx.pingPath });
    mkdirSync(path.dirname(spec.socketPath), { recursive: true, mode: 0o700 });
    // A socket file nobody serves: its listener was SIGKILLed, so nothing unlinked it.
    const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(spec.socketPath)}, () => console.log('up'))`]);
    await new Promise((r) => holder.stdout.once('data', r));
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    writeFileSync(spec.pidPath, `${await deadPid()}\n`);
    expect(existsSync(spec.socketPath)).toBe(true);
    expect((await agentStatus(agentPathsOf(spec))).state).toBe('stale');

    const pid = await start(spec);
    expect(readFileSync(spec.pidPath, 'utf8').trim()).toBe(String(pid));
    expect((await httpGet(spec.socketPath, '/_ping')).body).toBe('OK');
    expect((await agentStatus(agentPathsOf(spec))).state).toBe('running');
  });

  it('never signals a live process that is not our agent', async () => {
    const spec = fx.spec('foreign');
    mkdirSync(path.dirname(spec.pidPath), { recursive: true, mode: 0o700 });
    writeFileSync(spec.pidPath, `${process.pid}\n`);
    const r = await stopAgent(agentPathsOf(spec));
    expect(r.wasRunning).toBe(false);
    expect(existsSync(spec.pidPath)).toBe(false);
  });

  it('a second agent does not take over a socket a live agent serves', async () => {
    const spec = fx.spec('twice', { remoteSocket: fx.pingPath });
    const pid = await start(spec);
    const rival = { ...spec, pidPath: path.join(fx.dir, 'rival.pid'), statePath: path.join(fx.dir, 'rival.json'), logPath: path.join(fx.dir, 'rival.log') };
    const rivalSpec = path.join(fx.dir, 'rival.spec.json');
    writeFileSync(rivalSpec, JSON.stringify(rival));
    const code = await new Promise<number | null>((resolve) => {
      spawn(process.execPath, [fx.agent.entry, '--spec', rivalSpec], { stdio: 'ignore' }).on('exit', resolve);
    });
    expect(code).not.toBe(0);
    expect(readFileSync(rival.logPath, 'utf8')).toMatch(/another process already serves/);
    expect((await httpGet(spec.socketPath, '/_ping')).body).toBe('OK');
    expect(readFileSync(spec.pidPath, 'utf8').trim()).toBe(String(pid));
  });

  it('startAgent reuses an agent that already runs for the same spec', async () => {
    const spec = fx.spec('reuse');
    const a = await start(spec);
    const b = await start(spec);
    expect(b).toBe(a);
  });
});

describe('agent socket when nothing answers remotely', () => {
  it('closes the client connection cleanly when the guest socket does not exist', async () => {
    const spec = fx.spec('noremote', { remoteSocket: path.join(fx.dir, 'missing.sock') });
    await start(spec);
    // Closed without a byte (or reset): what matters is that the client is not left hanging.
    const replyBytes = await roundTrip(spec.socketPath, Buffer.from('GET /_ping HTTP/1.0\r\n\r\n')).then(
      (b) => b.length,
      () => 0,
    );
    expect(replyBytes).toBe(0);
    expect(readFileSync(spec.logPath, 'utf8')).toMatch(/cannot open .*missing\.sock/);
    // The agent itself stays up for the next client.
    expect((await agentStatus(agentPathsOf(spec))).state).toBe('running');
  });
});

const mountsOf = (spec: AgentSpec) =>
  until('the agent to record its mounts', async () => {
    const s = await readAgentState(spec.statePath);
    return s?.mounts ? s : undefined;
  });

// The agent mounts the machine's shares over its own SSH connection (agent/guest-mounts.ts);
// here the "guest" is the loopback sshd, and the mount command a script that says what it did.
describe('agent mounts', () => {
  it('runs the mount command once connected, records the shares still missing, and runs it again after a reconnect', async () => {
    const runs = path.join(fx.dir, 'mount-runs');
    const spec = fx.spec('mounts', { remoteSocket: fx.pingPath, mounts: { command: `echo run >> '${runs}'; echo 1; echo 'not an index'; echo 3` } });
    const pid = await start(spec);
    const first: AgentState = await mountsOf(spec);
    expect(first.pid).toBe(pid);
    expect(first.mounts).toEqual({ at: expect.any(String), missing: [1, 3] });
    expect(readFileSync(runs, 'utf8')).toBe('run\n');

    // A suspend unmounted the shares; the resumed guest's sshd is a new connection: they are mounted again.
    await fx.sshd.kill();
    await fx.sshd.restart();
    await until('the second run', async () => (readFileSync(runs, 'utf8') === 'run\nrun\n' ? true : undefined), 30_000);
    const second = await until('its record', async () => {
      const s = await readAgentState(spec.statePath);
      return s?.mounts && s.mounts.at !== first.mounts!.at ? s : undefined;
    });
    expect(second.mounts!.missing).toEqual([1, 3]);
    expect(readFileSync(spec.logPath, 'utf8')).toMatch(/shares mounted, except 2 \(indexes 1, 3\)/);
  }, 60_000);

  it('records a mount command that fails by the first line it wrote to stderr', async () => {
    const spec = fx.spec('mountfail', { remoteSocket: fx.pingPath, mounts: { command: "echo 'mount: share0: no such device' >&2; echo more >&2; exit 3" } });
    await start(spec);
    const s = await mountsOf(spec);
    expect(s.mounts).toEqual({ at: expect.any(String), missing: [], error: 'mount: share0: no such device' });
    expect(s.state).toBe('connected');
    expect(readFileSync(spec.logPath, 'utf8')).toMatch(/mounting the shares failed: mount: share0: no such device/);
  }, 30_000);

  it('an agent without a mount command records none', async () => {
    const spec = fx.spec('nomounts', { remoteSocket: fx.pingPath });
    await start(spec);
    const s = await readAgentState(spec.statePath);
    expect(s?.state).toBe('connected');
    expect(s).not.toHaveProperty('mounts');
  }, 30_000);
});
