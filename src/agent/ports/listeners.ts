import net from 'node:net';
import { errorMessage } from '../../errors.js';
import type { SshConnection } from '../../ssh/connect.js';
import { joinStreams } from '../forward.js';
import type { Log } from '../log.js';
import type { PublishedPort } from './published.js';

export type PortState = 'opening' | 'forwarded' | 'conflict';

/** One published port as the agent state file and `skiff status` show it. */
export interface PortStatus {
  port: number;
  proto: 'tcp';
  container: string;
  name: string;
  state: PortState;
  error?: string;
}

interface Entry {
  port: PublishedPort;
  state: PortState;
  error?: string;
  server?: net.Server;
  sockets: Set<net.Socket>;
}

/** "container web" or "service web" (services are keyed "service:ID", see services.ts), for the log. */
function owner(p: PublishedPort): string {
  return `${p.container.startsWith('service:') ? 'service' : 'container'} ${p.name}`;
}

/** Only the host's loopback: a published port must not become reachable from the network. */
const BIND_HOST = '127.0.0.1';

/**
 * The host-side listeners, one per published port, each accepted connection
 * tunnelled to the guest as a direct-tcpip channel on the current SSH connection.
 * A port the host cannot listen on (in use, privileged) is recorded as a
 * conflict, never thrown.
 */
export class PortListeners {
  private readonly entries = new Map<number, Entry>();

  constructor(
    private readonly connection: () => SshConnection | undefined,
    private readonly log: Log,
    private readonly changed: () => void,
  ) {}

  /** The ports as they are meant to be: what `diffPorts` compares against. */
  wanted(): Map<number, PublishedPort> {
    return new Map([...this.entries].map(([k, e]) => [k, e.port]));
  }

  status(): PortStatus[] {
    return [...this.entries.values()]
      .sort((a, b) => a.port.hostPort - b.port.hostPort)
      .map((e) => ({
        port: e.port.hostPort,
        proto: e.port.proto,
        container: e.port.container.slice(0, 12),
        name: e.port.name,
        state: e.state,
        ...(e.error ? { error: e.error } : {}),
      }));
  }

  async open(port: PublishedPort): Promise<void> {
    this.close(port.hostPort, 'replaced');
    const entry: Entry = { port, state: 'opening', sockets: new Set() };
    this.entries.set(port.hostPort, entry);
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => void this.accept(entry, s));
    entry.server = server;
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      server.once('error', resolve);
      server.listen({ host: BIND_HOST, port: port.hostPort, exclusive: true }, () => resolve(undefined));
    });
    // Closed (container gone, link lost) while the listen was under way.
    if (this.entries.get(port.hostPort) !== entry) {
      server.close();
      return;
    }
    if (err) {
      entry.server = undefined;
      entry.state = 'conflict';
      entry.error = listenError(err, port.hostPort);
      this.log(`port ${port.hostPort}/tcp of ${owner(port)} not forwarded: ${entry.error}`);
    } else {
      server.on('error', (e) => this.log(`port ${port.hostPort}/tcp listener: ${errorMessage(e)}`));
      entry.state = 'forwarded';
      this.log(`port ${port.hostPort}/tcp forwarded to ${owner(port)} (${port.target.host}:${port.target.port} in the guest)`);
    }
    this.changed();
  }

  /** Stops listening on a port and drops its open connections. */
  close(hostPort: number, why: string): void {
    const e = this.entries.get(hostPort);
    if (!e) return;
    this.entries.delete(hostPort);
    e.server?.close();
    for (const s of e.sockets) s.destroy();
    if (e.state === 'forwarded') this.log(`port ${hostPort}/tcp closed (${why})`);
    this.changed();
  }

  closeContainer(id: string, why: string): void {
    for (const [port, e] of [...this.entries]) if (e.port.container === id) this.close(port, why);
  }

  closeAll(why: string): void {
    for (const port of [...this.entries.keys()]) this.close(port, why);
  }

  private async accept(entry: Entry, sock: net.Socket): Promise<void> {
    sock.on('error', () => {});
    const conn = this.connection();
    if (!conn || this.entries.get(entry.port.hostPort) !== entry) {
      sock.destroy();
      return;
    }
    entry.sockets.add(sock);
    try {
      const { host, port } = entry.port.target;
      const channel = await new Promise<Parameters<typeof joinStreams>[1]>((resolve, reject) => {
        conn.client.forwardOut(sock.remoteAddress ?? BIND_HOST, sock.remotePort ?? 0, host, port, (err, ch) => (err ? reject(err) : resolve(ch)));
      }).catch((e: unknown) => {
        this.log(`port ${entry.port.hostPort}/tcp: cannot reach ${host}:${port} in the guest: ${errorMessage(e)}`);
        return undefined;
      });
      if (!channel || sock.destroyed) {
        channel?.close();
        sock.destroy();
        return;
      }
      await joinStreams(sock, channel);
    } finally {
      entry.sockets.delete(sock);
    }
  }
}

function listenError(e: NodeJS.ErrnoException, port: number): string {
  if (e.code === 'EADDRINUSE') return `127.0.0.1:${port} is already in use on the host`;
  if (e.code === 'EACCES') return `no permission to listen on 127.0.0.1:${port} on the host (ports below 1024 need root)`;
  return `cannot listen on 127.0.0.1:${port}: ${errorMessage(e)}`;
}
