import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentStatus, startAgent, stopAgent } from '../../src/agent/control.js';
import type { AgentSpec } from '../../src/agent/spec.js';
import { readAgentState } from '../../src/agent/state.js';
import { agentFixture, httpGet, roundTrip, sha256, upload, type AgentFixture, download } from '../helpers/agent-fixture.js';

let fx: AgentFixture;
let spec: AgentSpec;
let pingSpec: AgentSpec;

const pathsOf = (s: AgentSpec) => ({ dockerSocket: s.socketPath, agentPid: s.pidPath, agentState: s.statePath });

beforeAll(async () => {
  fx = await agentFixture();
  spec = fx.spec('fwd');
  pingSpec = fx.spec('ping', { remoteSocket: fx.pingPath });
  await startAgent(spec, { entry: fx.agent.entry, timeoutMs: 20_000 });
  await startAgent(pingSpec, { entry: fx.agent.entry, timeoutMs: 20_000 });
}, 90_000);

afterAll(async () => {
  if (spec) await stopAgent(pathsOf(spec));
  if (pingSpec) await stopAgent(pathsOf(pingSpec));
  await fx?.cleanup();
});

describe('agent forwarding through a real sshd', () => {
  it('serves an HTTP request (GET /_ping) from the guest socket', async () => {
    const r = await httpGet(pingSpec.socketPath, '/_ping');
    expect(r).toEqual({ status: 200, body: 'OK' });
  });

  it('keeps the socket 0600 in a 0700 directory', () => {
    expect(statSync(spec.socketPath).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(spec.socketPath)).mode & 0o777).toBe(0o700);
  });

  it('uploads 64 MB intact and still reads the reply after half-closing', async () => {
    const size = 64 * 1024 * 1024;
    const { sha256: sent, reply } = await upload(spec.socketPath, 'SINK\n', size);
    expect(reply).toBe(`${size} ${sent}\n`);
  }, 120_000);

  it('downloads 64 MB intact', async () => {
    const size = 64 * 1024 * 1024;
    const got = await download(spec.socketPath, size);
    const served = fx.stream.results.filter((r) => r.mode === 'source').pop();
    expect(got.bytes).toBe(size);
    expect(served?.sha256).toBe(got.sha);
  }, 120_000);

  it('passes a half-close on as EOF: the echo of everything sent arrives after the client shut its write side', async () => {
    const payload = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const reply = await roundTrip(spec.socketPath, [Buffer.from('ECHO\n'), payload]);
    expect(reply.length).toBe(payload.length);
    expect(sha256(reply)).toBe(sha256(payload));
  }, 60_000);

  it('serves 50 concurrent connections, each getting its own bytes back', async () => {
    const payloads = Array.from({ length: 50 }, (_, i) => Buffer.alloc(64 * 1024 + i, i));
    const replies = await Promise.all(payloads.map((p) => roundTrip(spec.socketPath, [Buffer.from('ECHO\n'), p])));
    replies.forEach((r, i) => expect(sha256(r)).toBe(sha256(payloads[i]!)));
  }, 60_000);

  it('reports itself running and counts the connections it served', async () => {
    const st = await agentStatus(pathsOf(spec));
    expect(st.state).toBe('running');
    // The counters are flushed to the state file at most once a second.
    await new Promise((r) => setTimeout(r, 1_200));
    const state = await readAgentState(spec.statePath);
    expect(state?.state).toBe('connected');
    expect(state?.connectionsServed).toBeGreaterThanOrEqual(53);
  });

  it('negotiates aes128-gcm and logs which crypto path ssh2 uses', () => {
    const log = readFileSync(spec.logPath, 'utf8');
    expect(log).toMatch(/^\S+Z ssh connected \(aes128-gcm@openssh\.com\)$/m);
    expect(log).toMatch(/ssh2 native crypto binding: /);
  });
});
