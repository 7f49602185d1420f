import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agentPathsOf, startAgent, stopAgent } from '../../src/agent/control.js';
import type { AgentSpec } from '../../src/agent/spec.js';
import { readAgentState, type AgentState } from '../../src/agent/state.js';
import { agentFixture, type AgentFixture, until } from '../helpers/agent-fixture.js';

// The agent mounts the machine's shares over its own SSH connection (agent/guest-mounts.ts);
// here the "guest" is a real sshd on loopback, and the mount command a script that says what it did.
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

const mountsOf = (spec: AgentSpec) =>
  until('the agent to record its mounts', async () => {
    const s = await readAgentState(spec.statePath);
    return s?.mounts ? s : undefined;
  });

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
