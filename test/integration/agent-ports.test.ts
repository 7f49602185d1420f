import dgram from 'node:dgram';
import { readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentStatus, startAgent, stopAgent, agentPathsOf } from '../../src/agent/control.js';
import type { PortStatus } from '../../src/agent/ports/listeners.js';
import type { AgentSpec } from '../../src/agent/spec.js';
import { readAgentState } from '../../src/agent/state.js';
import { agentFixture, type AgentFixture, until } from '../helpers/agent-fixture.js';
import { FakeQmp } from '../helpers/fake-qmp.js';
import { askUdp, hasIpv6Loopback } from '../helpers/udp.js';
import { freePort } from '../helpers/sshd.js';

/**
 * The agent's published ports against a real sshd and a stand-in engine: an HTTP
 * server on a unix socket serving /containers/json, /containers/ID/json and a
 * streaming /events the test writes to. "Containers" are TCP echo servers on
 * 127.0.0.1; their address and private port are what sshd's direct-tcpip reaches.
 */

interface FakeContainer {
  id: string;
  name: string;
  hostPort: number;
  echoPort: number;
}

class FakeEngine {
  readonly running = new Map<string, FakeContainer>();
  private readonly streams = new Set<http.ServerResponse>();
  subscriptions = 0;
  /** The `filters` query of every /events subscription, checked by the tests (an expect in here would only be an unhandled error). */
  readonly eventFilters: unknown[] = [];
  /** Runs as a listing is answered (before its reply is written), once. */
  onList: (() => void) | undefined;
  readonly server = http.createServer((req, res) => this.handle(req, res));

  constructor(readonly socketPath: string) {}

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socketPath, resolve));
  }

  close(): Promise<void> {
    for (const s of this.streams) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  emit(action: string, id: string): void {
    const line = JSON.stringify({ Type: 'container', Action: action, Actor: { ID: id, Attributes: {} }, time: Math.floor(Date.now() / 1000) }) + '\n';
    for (const s of this.streams) s.write(line);
  }

  /** Like an engine restart: every event stream ends. */
  endStreams(): void {
    for (const s of this.streams) s.end();
    this.streams.clear();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (code: number, body: unknown): void => {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/events') {
      this.eventFilters.push(JSON.parse(url.searchParams.get('filters') ?? '{}'));
      this.subscriptions++;
      // Chunked, like the engine's; headers go out at once, as the engine flushes them on subscribing.
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      this.streams.add(res);
      res.on('close', () => this.streams.delete(res));
      return;
    }
    // Not in a swarm: the engine refuses service calls, and the agent reads that as no services.
    if (url.pathname.startsWith('/services')) return json(503, { message: 'This node is not a swarm manager.' });
    if (url.pathname === '/containers/json') {
      const list = [...this.running.values()].map((c) => ({ Id: c.id, Names: [`/${c.name}`] }));
      const hook = this.onList;
      this.onList = undefined;
      hook?.();
      return json(200, list);
    }
    const m = /^\/containers\/([^/]+)\/json$/.exec(url.pathname);
    const c = m ? this.running.get(decodeURIComponent(m[1]!)) : undefined;
    if (!c) return json(404, { message: 'No such container' });
    json(200, {
      Id: c.id,
      Name: `/${c.name}`,
      State: { Running: true },
      NetworkSettings: {
        Ports: {
          [`${c.echoPort}/tcp`]: [
            { HostIp: '0.0.0.0', HostPort: String(c.hostPort) },
            { HostIp: '::', HostPort: String(c.hostPort) },
          ],
          '53/udp': [{ HostIp: '0.0.0.0', HostPort: String(c.hostPort) }],
        },
        Networks: { bridge: { IPAddress: '127.0.0.1' } },
      },
    });
  }
}

/** A TCP server that writes back what it reads, prefixed with its name. */
async function echoServer(name: string): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', (d) => s.write(`${name}:${d.toString()}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** Sends one line through host 127.0.0.1:port and returns the reply, or the connection's error code. */
function ask(port: number, text: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let reply = '';
    const t = setTimeout(() => {
      s.destroy();
      resolve(reply || 'TIMEOUT');
    }, 5_000);
    s.on('connect', () => s.write(text));
    s.on('data', (d) => {
      reply += d.toString();
      if (reply.endsWith(text)) {
        clearTimeout(t);
        s.end();
        resolve(reply);
      }
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve(e.code ?? e.message);
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve(reply || 'CLOSED');
    });
  });
}

const answers = (port: number, name: string) => until(`${name} to answer on ${port}`, async () => ((await ask(port, 'hi')) === `${name}:hi` ? true : undefined));
const refuses = (port: number) => until(`port ${port} to refuse`, async () => ((await ask(port, 'hi')) === 'ECONNREFUSED' ? true : undefined));
const portsOf = async (spec: AgentSpec): Promise<PortStatus[]> => (await readAgentState(spec.statePath))?.ports ?? [];

let fx: AgentFixture;
let engine: FakeEngine;
let spec: AgentSpec;
let qmp: FakeQmp;
const echoes: Array<{ close(): void }> = [];

async function container(id: string, name: string): Promise<FakeContainer> {
  const echo = await echoServer(name);
  echoes.push(echo);
  return { id: id.padEnd(64, '0'), name, hostPort: await freePort(), echoPort: echo.port };
}

beforeAll(async () => {
  fx = await agentFixture();
  engine = new FakeEngine(path.join(fx.dir, 'engine.sock'));
  await engine.listen();
  qmp = new FakeQmp(path.join(fx.dir, 'qmp.sock'), 'udp');
  await qmp.listen();
}, 90_000);

afterAll(async () => {
  if (spec) await stopAgent(agentPathsOf(spec));
  for (const e of echoes) e.close();
  await engine?.close();
  qmp?.close();
  if (engine) rmSync(engine.socketPath, { force: true });
  await fx?.cleanup();
});

describe('published ports through a real sshd', () => {
  let early: FakeContainer;

  it('forwards the ports of containers already running when the agent starts', async () => {
    early = await container('aa', 'early');
    engine.running.set(early.id, early);
    spec = fx.spec('ports', { remoteSocket: engine.socketPath, udp: { kind: 'qemu', qmpSocket: qmp.socketPath, netdev: 'n0' } });
    await startAgent(spec, { entry: fx.agent.entry, timeoutMs: 20_000 });
    await answers(early.hostPort, 'early');
    const ports = await until('the state file to list the ports', async () => {
      const p = await portsOf(spec);
      return p.length > 1 && p.every((e) => e.state !== 'opening') ? p : undefined;
    });
    // One TCP entry although the engine listed a v4 and a v6 binding; the UDP port of the same number is its own.
    expect(ports).toEqual([
      { port: early.hostPort, proto: 'tcp', container: early.id.slice(0, 12), name: 'early', state: 'forwarded' },
      { port: early.hostPort, proto: 'udp', container: early.id.slice(0, 12), name: 'early', state: 'forwarded' },
    ]);
    expect(qmp.commands).toContain(`hostfwd_add n0 udp:127.0.0.1:${early.hostPort}-:${early.hostPort}`);
    // It subscribed to container and service events only.
    expect(engine.eventFilters).toEqual([{ type: ['container', 'service'] }]);
  });

  it('listens on 127.0.0.1 only', async () => {
    // All of 127/8 reaches the loopback interface: a wildcard listener would answer here.
    expect(await ask(early.hostPort, 'hi', '127.0.0.2')).toBe('ECONNREFUSED');
    expect(await askUdp(early.hostPort, 'hi', '127.0.0.2')).not.toBe('udp:hi');
  });

  it('listens on [::1] too where the host has an IPv6 loopback, for TCP and UDP', async () => {
    const v6 = hasIpv6Loopback();
    expect(await ask(early.hostPort, 'hi', '::1')).toBe(v6 ? 'early:hi' : 'EADDRNOTAVAIL');
    if (v6) expect(await askUdp(early.hostPort, 'hi', '::1')).toBe('udp:hi');
  });

  it('sends each UDP client its own replies, several at once, from 127.0.0.1 and [::1]', async () => {
    const hosts = hasIpv6Loopback() ? ['127.0.0.1', '::1'] : ['127.0.0.1'];
    const texts = Array.from({ length: 8 }, (_, i) => ({ host: hosts[i % hosts.length]!, text: `client-${i}` }));
    const replies = await Promise.all(texts.map(({ host, text }) => askUdp(early.hostPort, text, host)));
    expect(replies).toEqual(texts.map(({ text }) => `udp:${text}`));
  });

  it('opens a port on a start event and closes it on die', async () => {
    const web = await container('bb', 'web');
    engine.running.set(web.id, web);
    engine.emit('start', web.id);
    await answers(web.hostPort, 'web');
    engine.running.delete(web.id);
    engine.emit('die', web.id);
    await refuses(web.hostPort);
    expect(qmp.commands).toContain(`hostfwd_add n0 udp:127.0.0.1:${web.hostPort}-:${web.hostPort}`);
    await until(`udp ${web.hostPort} to be removed`, async () => (qmp.forwards.has(web.hostPort) ? undefined : true));
    if (hasIpv6Loopback()) expect(await askUdp(web.hostPort, 'hi', '::1')).toBe('ECONNREFUSED');
    expect((await portsOf(spec)).map((p) => p.port)).not.toContain(web.hostPort);
    // The other container's port is untouched.
    expect(await ask(early.hostPort, 'still')).toBe('early:still');
  });

  it('reports a host port already in use in the state file and the log, and keeps running', async () => {
    const taken = net.createServer();
    const busy = await container('cc', 'busy');
    await new Promise<void>((r) => taken.listen(busy.hostPort, '127.0.0.1', r));
    const takenUdp = dgram.createSocket('udp4');
    await new Promise<void>((r) => takenUdp.bind(busy.hostPort, '127.0.0.1', r));
    try {
      engine.running.set(busy.id, busy);
      engine.emit('start', busy.id);
      const entry = await until('the conflict in the state file', async () => (await portsOf(spec)).find((p) => p.port === busy.hostPort && p.state === 'conflict'));
      expect(entry.error).toMatch(new RegExp(`127\\.0\\.0\\.1:${busy.hostPort}/tcp is already in use on the host`));
      expect(readFileSync(spec.logPath, 'utf8')).toMatch(new RegExp(`port ${busy.hostPort}/tcp of container busy not forwarded`));
      const udp = await until('the UDP conflict', async () => (await portsOf(spec)).find((p) => p.port === busy.hostPort && p.proto === 'udp' && p.state === 'conflict'));
      expect(udp.error).toMatch(new RegExp(`127\\.0\\.0\\.1:${busy.hostPort}/udp is already in use on the host`));
      expect((await agentStatus(agentPathsOf(spec))).state).toBe('running');
      expect(await ask(early.hostPort, 'alive')).toBe('early:alive');
    } finally {
      takenUdp.close();
      taken.close();
      engine.running.delete(busy.id);
      engine.emit('destroy', busy.id);
    }
    await until('the conflict to be dropped', async () => ((await portsOf(spec)).some((p) => p.port === busy.hostPort) ? undefined : true));
  });

  it('re-syncs after the event stream ends: a container gone meanwhile loses its port, a new one gets its own', async () => {
    const before = engine.subscriptions;
    const late = await container('dd', 'late');
    engine.running.delete(early.id);
    engine.running.set(late.id, late);
    engine.endStreams();
    await until('a new subscription', async () => (engine.subscriptions > before ? true : undefined));
    await answers(late.hostPort, 'late');
    await refuses(early.hostPort);
    engine.running.set(early.id, early);
    engine.emit('start', early.id);
    await answers(early.hostPort, 'early');
  });

  it('leaves no gap between subscribing and listing: a container started while the list is made gets its port', async () => {
    const before = engine.subscriptions;
    const racer = await container('ee', 'racer');
    // The listing misses it; only the event, already subscribed to, can tell the agent.
    engine.onList = () => {
      engine.running.set(racer.id, racer);
      engine.emit('start', racer.id);
    };
    engine.endStreams();
    await until('a new subscription', async () => (engine.subscriptions > before ? true : undefined));
    await answers(racer.hostPort, 'racer');
    engine.running.delete(racer.id);
    engine.emit('die', racer.id);
    await refuses(racer.hostPort);
  });

  it('closes every port when the SSH link drops and reopens them when it is back', async () => {
    await fx.sshd.kill();
    try {
      await refuses(early.hostPort);
      await refuses([...engine.running.values()].find((c) => c.name === 'late')!.hostPort);
    } finally {
      await fx.sshd.restart();
    }
    await answers(early.hostPort, 'early');
    const names = async () => (await portsOf(spec)).filter((p) => p.proto === 'tcp').map((p) => p.name).sort().join(',');
    await until('the state file to list both ports again', async () => ((await names()) === 'early,late' ? true : undefined));
    expect(await names()).toBe('early,late');
  }, 60_000);

  it('closes every port when the agent stops', async () => {
    await stopAgent(agentPathsOf(spec));
    expect(await ask(early.hostPort, 'hi')).toBe('ECONNREFUSED');
  });
});
