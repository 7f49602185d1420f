import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, stopAgent } from '../../src/agent/control.js';
import type { AgentSpec } from '../../src/agent/spec.js';
import { agentFixture, roundTrip, sha256, upload, type AgentFixture, download } from '../helpers/agent-fixture.js';

/**
 * The agent as it runs on a host where ssh2's native binding was not built (CI
 * installs with --ignore-scripts): ssh2's pure-JS AES-GCM path, through a real
 * sshd. Packets of every size, split across reads in every way, must arrive
 * intact in both directions.
 */
const NO_BINDING = fileURLToPath(new URL('../../bench/tunnel-no-binding.cjs', import.meta.url));

let fx: AgentFixture;
let spec: AgentSpec;

beforeAll(async () => {
  fx = await agentFixture();
  spec = fx.spec('js');
  await startAgent(spec, { entry: fx.agent.entry, timeoutMs: 20_000, nodeArgs: [`--require=${NO_BINDING}`] });
}, 90_000);

afterAll(async () => {
  if (spec) await stopAgent({ dockerSocket: spec.socketPath, agentPid: spec.pidPath, agentState: spec.statePath });
  await fx?.cleanup();
});

describe('agent forwarding without the native binding (pure-JS AES-GCM path)', () => {
  it('runs without the binding and negotiates AES-GCM', () => {
    const log = readFileSync(spec.logPath, 'utf8');
    expect(log).toMatch(/native crypto binding: not available/);
    expect(log).toMatch(/ssh connected \(aes128-gcm@openssh\.com\)/);
  });

  it('uploads 64 MB intact and reads the reply after half-closing', async () => {
    const size = 64 * 1024 * 1024;
    const { sha256: sent, reply } = await upload(spec.socketPath, 'SINK\n', size);
    expect(reply).toBe(`${size} ${sent}\n`);
  }, 120_000);

  it('downloads 64 MB intact', async () => {
    const size = 64 * 1024 * 1024;
    const got = await download(spec.socketPath, size);
    expect(got.bytes).toBe(size);
    expect(fx.stream.results.filter((r) => r.mode === 'source').pop()?.sha256).toBe(got.sha);
  }, 120_000);

  it('echoes odd-sized writes on 20 concurrent connections, each intact', async () => {
    const payloads = Array.from({ length: 20 }, (_, i) => {
      const b = Buffer.alloc(1 + i * 7919 + (i % 3) * 32768);
      for (let j = 0; j < b.length; j++) b[j] = (j * (i + 3)) & 0xff;
      return b;
    });
    const replies = await Promise.all(payloads.map((p) => roundTrip(spec.socketPath, [Buffer.from('ECHO\n'), p])));
    replies.forEach((r, i) => expect(sha256(r)).toBe(sha256(payloads[i]!)));
  }, 60_000);
});
