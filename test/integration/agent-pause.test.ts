import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agentPathsOf, startAgent, stopAgent } from '../../src/agent/control.js';
import type { AgentSpec } from '../../src/agent/spec.js';
import { readAgentState } from '../../src/agent/state.js';
import { agentFixture, httpGet, type AgentFixture, until } from '../helpers/agent-fixture.js';
import { FakeQmp } from '../helpers/fake-qmp.js';

/**
 * issue 18 against a real sshd: SIGSTOP of every sshd process stands in for a
 * paused VM (the kernel still completes TCP handshakes into the stopped
 * listener's backlog, as QEMU's user network does for a stopped guest, but no
 * banner comes). Keepalive is shortened so a "long" pause takes seconds.
 */
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A session child may have exited since it was listed. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

function sshdPids(): number[] {
  return [fx.sshd.pid()!, ...fx.sshd.sessionPids()];
}

async function paused<T>(during: () => Promise<T>, pauseMs: number): Promise<T> {
  const pids = sshdPids();
  for (const p of pids) signal(p, 'SIGSTOP');
  try {
    const r = during();
    await sleep(pauseMs);
    return await r;
  } finally {
    for (const p of pids) signal(p, 'SIGCONT');
  }
}

describe('agent across a paused guest', () => {
  it('a pause the keepalive gives up on: a request issued meanwhile completes once the guest is back', async () => {
    const spec = fx.spec('pause', { remoteSocket: fx.pingPath, keepaliveIntervalMs: 500, keepaliveCountMax: 4 });
    started.push(spec);
    await startAgent(spec, { entry: fx.agent.entry, timeoutMs: 20_000 });
    await until('the link', async () => ((await readAgentState(spec.statePath))?.state === 'connected' ? true : undefined));
    expect((await httpGet(spec.socketPath, '/_ping')).body).toBe('OK');

    let reply: Promise<string> | undefined;
    await paused(async () => {
      reply = httpGet(spec.socketPath, '/_ping').then((r) => r.body);
      reply.catch(() => {});
      // Long enough for the keepalive to drop the link and for banner probes to
      // land in the stopped listener's backlog.
      await until('the drop', async () => ((await readAgentState(spec.statePath))?.state === 'reconnecting' ? true : undefined));
    }, 4_000);
    expect(await reply).toBe('OK');
    expect((await httpGet(spec.socketPath, '/_ping')).body).toBe('OK');
    const log = readFileSync(spec.logPath, 'utf8');
    expect(log).toMatch(/ssh reconnecting: SSH link lost: Keepalive timeout/);
    expect(log).toMatch(/no SSH banner from/);
  }, 90_000);

  /** An agent whose spec names a QMP socket (a stand-in QEMU) to ask whether its VM is paused; connected. */
  async function agentWithQmp(name: string, run: (spec: AgentSpec, qmp: FakeQmp) => Promise<void>): Promise<void> {
    const qmp = new FakeQmp(path.join(fx.dir, `${name}-qmp.sock`), name);
    await qmp.listen();
    try {
      const spec = fx.spec(name, {
        remoteSocket: fx.pingPath,
        keepaliveIntervalMs: 500,
        keepaliveCountMax: 4,
        pause: { kind: 'qemu', qmpSocket: qmp.socketPath, dataDisk: path.join(fx.dir, 'data.qcow2') },
      });
      started.push(spec);
      await startAgent(spec, { entry: fx.agent.entry, timeoutMs: 20_000 });
      await until('the link', async () => ((await readAgentState(spec.statePath))?.state === 'connected' ? true : undefined));
      await run(spec, qmp);
    } finally {
      qmp.close();
    }
  }

  it('a pause longer than the keepalive, but QEMU says the VM is paused: the link is held, a request in flight completes', async () => {
    await agentWithQmp('held', async (spec, qmp) => {
      qmp.status = 'paused';
      const states: string[] = [];
      let reply: Promise<string> | undefined;
      await paused(async () => {
        reply = httpGet(spec.socketPath, '/_ping').then((r) => r.body);
        reply.catch(() => {});
        // Twice the keepalive budget (500 ms x 5): watched, the link never leaves "connected".
        for (let t = 0; t < 5_000; t += 250) {
          states.push((await readAgentState(spec.statePath))?.state ?? 'none');
          await sleep(250);
        }
      }, 0);
      qmp.status = 'running';
      expect(await reply).toBe('OK');
      expect(new Set(states)).toEqual(new Set(['connected']));
      const log = readFileSync(spec.logPath, 'utf8');
      expect(log).toMatch(/its VM is paused: holding the link until it runs again/);
      expect(log).toMatch(/the link held through the pause/);
      expect(log).not.toMatch(/ssh reconnecting/);
    });
  }, 90_000);

  it('the same silence with QEMU saying the VM runs: the link is dropped and rebuilt', async () => {
    await agentWithQmp('notpaused', async (spec) => {
      await paused(async () => {
        await until('the drop', async () => ((await readAgentState(spec.statePath))?.state === 'reconnecting' ? true : undefined));
      }, 0);
      expect((await httpGet(spec.socketPath, '/_ping')).body).toBe('OK');
      expect(readFileSync(spec.logPath, 'utf8')).toMatch(/Keepalive timeout \(no answer for \d+\.\d s, and the VM is not paused\)/);
    });
  }, 90_000);

  it('a pause the link survives: the agent notices the silence and checks the clock at once', async () => {
    const spec = fx.spec('short', { remoteSocket: fx.pingPath, keepaliveIntervalMs: 500, keepaliveCountMax: 20 });
    started.push(spec);
    await startAgent(spec, { entry: fx.agent.entry, timeoutMs: 20_000 });
    await until('the link', async () => ((await readAgentState(spec.statePath))?.state === 'connected' ? true : undefined));
    let reply: Promise<string> | undefined;
    await paused(async () => {
      reply = httpGet(spec.socketPath, '/_ping').then((x) => x.body);
      reply.catch(() => {});
    }, 4_000);
    expect(await reply).toBe('OK');
    // This sshd answers no exec (the check times out here): what matters is that
    // the silence started a check at once, not after a period.
    await until('the clock check after the silence', async () =>
      /guest clock check failed \(guest silent for \d+\.\d s\)/.test(readFileSync(spec.logPath, 'utf8')) ? true : undefined,
    );
    expect((await readAgentState(spec.statePath))?.state).toBe('connected');
  }, 90_000);
});
