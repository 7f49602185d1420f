/** Shared set-up for agent integration tests: a built agent, a real sshd, guest-side stand-in sockets. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AgentSpec } from '../../src/agent/spec.js';
import { buildAgent, type BuiltAgent } from './agent-build.js';
import { startPingServer, startSshd, startStreamServer, type StreamServer, type TestSshd } from './sshd.js';

export interface AgentFixture {
  agent: BuiltAgent;
  sshd: TestSshd;
  /** Short temp dir: unix socket paths must stay under ~104 bytes. */
  dir: string;
  stream: StreamServer;
  streamPath: string;
  pingPath: string;
  spec(name: string, over?: Partial<AgentSpec>): AgentSpec;
  cleanup(): Promise<void>;
}

export async function agentFixture(): Promise<AgentFixture> {
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    const agent = await buildAgent();
    cleanups.push(() => agent.remove());
    const sshd = await startSshd();
    cleanups.push(() => sshd.stop());
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sk-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const streamPath = path.join(dir, 'stream.sock');
    const stream = await startStreamServer(streamPath);
    cleanups.push(() => stream.close());
    const pingPath = path.join(dir, 'ping.sock');
    const ping = await startPingServer(pingPath);
    cleanups.push(() => new Promise((r) => ping.close(r)));
    return {
      agent,
      sshd,
      dir,
      stream,
      streamPath,
      pingPath,
      spec: (name, over = {}) => {
        const run = path.join(dir, name);
        return {
          machine: name,
          sshHost: sshd.host,
          sshPort: sshd.port,
          user: sshd.user,
          keyPath: sshd.keyPath,
          hostPubPath: sshd.hostPubPath,
          socketPath: path.join(run, 'docker.sock'),
          pidPath: path.join(run, 'agent.pid'),
          statePath: path.join(run, 'agent.json'),
          logPath: path.join(dir, `${name}.log`),
          remoteSocket: streamPath,
          ...over,
        };
      },
      cleanup: async () => {
        for (const c of cleanups.reverse()) await c().catch(() => undefined);
      },
    };
  } catch (e) {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    throw e;
  }
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Sends `request` (then half-closes) and collects the whole reply. */
export function roundTrip(socketPath: string, request: Buffer | Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path: socketPath, allowHalfOpen: true });
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => {
      s.end();
      resolve(Buffer.concat(parts));
    });
    s.on('error', reject);
    s.on('connect', () => {
      for (const b of Array.isArray(request) ? request : [request]) s.write(b);
      s.end();
    });
  });
}

/** Streams `total` random bytes after `head`, half-closes, returns (sha256 sent, reply). */
export function upload(socketPath: string, head: string, total: number): Promise<{ sha256: string; reply: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path: socketPath, allowHalfOpen: true });
    const h = createHash('sha256');
    let sent = 0;
    let reply = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (reply += d));
    s.on('end', () => {
      s.end();
      resolve({ sha256: h.digest('hex'), reply });
    });
    s.on('error', reject);
    const pump = (): void => {
      while (sent < total) {
        const b = randomBytes(Math.min(256 * 1024, total - sent));
        h.update(b);
        sent += b.length;
        if (!s.write(b)) {
          s.once('drain', pump);
          return;
        }
      }
      s.end();
    };
    s.on('connect', () => {
      s.write(head);
      pump();
    });
  });
}

export function httpGet(socketPath: string, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: urlPath, method: 'GET', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls f every 100 ms until it returns a value; fails after ms with what it waited for. */
export async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Asks the source for `size` bytes and reads them to the end; returns what arrived. */
export function download(socketPath: string, size: number): Promise<{ bytes: number; sha: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    const h = createHash('sha256');
    let bytes = 0;
    s.on('data', (d: Buffer) => {
      h.update(d);
      bytes += d.length;
    });
    s.on('end', () => resolve({ bytes, sha: h.digest('hex') }));
    s.on('error', reject);
    s.write(`SOURCE ${size}\n`);
  });
}
