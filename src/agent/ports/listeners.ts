import net from 'node:net';
import { errorMessage } from '../../errors.js';
import type { SshConnection } from '../../ssh/connect.js';
import { joinStreams } from '../forward.js';
import type { Log } from '../log.js';
import { portKey, type Proto, type PublishedPort } from './published.js';
import { UdpLoopbackRelay, type NatForwarder } from './udp.js';

export type PortState = 'opening' | 'forwarded' | 'conflict';

/** One published port as the agent state file and `skiff status` show it. */
export interface PortStatus {
  port: number;
  proto: Proto;
  container: string;
  name: string;
  state: PortState;
  error?: string;
}

interface Entry {
  port: PublishedPort;
  state: PortState;
  error?: string;
  servers: net.Server[];
  sockets: Set<net.Socket>;
  /** UDP: the hypervisor's forward is in place (so it must be removed), and the [::1] relay. */
  natAdded?: boolean;
  relay?: UdpLoopbackRelay;
}

/** "container web" or "service web" (services are keyed "service:ID", see services.ts), for the log. */
function owner(p: PublishedPort): string {
  return `${p.owner.startsWith('service:') ? 'service' : 'container'} ${p.name}`;
}

/** Only the host's loopback: a published port must not become reachable from the network. */
const BIND_HOST = '127.0.0.1';
/** Node 17+ and many tools resolve `localhost` to ::1 first: ports listen there too, where the host has it. */
const BIND_HOST6 = '::1';
/** Errors that mean the host has no IPv6 loopback: the port then listens on 127.0.0.1 alone. */
const NO_IPV6 = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EPROTONOSUPPORT']);

/**
 * The host-side listeners, one per published port, each accepted connection
 * tunnelled to the guest as a direct-tcpip channel on the current SSH connection.
 * A port the host cannot listen on (in use, privileged) is recorded as a
 * conflict, never thrown.
 */
export class PortListeners {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly connection: () => SshConnection | undefined,
    private readonly log: Log,
    private readonly changed: () => void,
    /** Forwards UDP ports; without one (a hypervisor skiff cannot reach) UDP ports are shown as not forwarded. */
    private readonly nat?: NatForwarder,
  ) {}

  /** The ports as they are meant to be: what `diffPorts` compares against. */
  wanted(): Map<string, PublishedPort> {
    return new Map([...this.entries].map(([k, e]) => [k, e.port]));
  }

  status(): PortStatus[] {
    return [...this.entries.values()]
      .sort((a, b) => a.port.hostPort - b.port.hostPort)
      .map((e) => ({
        port: e.port.hostPort,
        proto: e.port.proto,
        container: e.port.owner.slice(0, 12),
        name: e.port.name,
        state: e.state,
        ...(e.error ? { error: e.error } : {}),
      }));
  }

  async open(port: PublishedPort): Promise<void> {
    const key = portKey(port);
    this.close(key, 'replaced');
    const entry: Entry = { port, state: 'opening', servers: [], sockets: new Set() };
    this.entries.set(key, entry);
    const err = port.proto === 'tcp' ? await this.listenTcp(entry) : await this.forwardUdp(entry);
    // Closed (container gone, link lost) while the listen was under way.
    if (this.entries.get(key) !== entry) {
      this.release(entry);
      return;
    }
    if (err) {
      this.release(entry);
      entry.state = 'conflict';
      entry.error = err;
      this.log(`port ${key} of ${owner(port)} not forwarded: ${entry.error}`);
    } else {
      entry.state = 'forwarded';
      const to = port.proto === 'tcp' ? `${port.target.host}:${port.target.port}` : `the guest's port ${port.hostPort}`;
      this.log(`port ${key} forwarded to ${owner(port)} (${to} in the guest)`);
    }
    this.changed();
  }

  /** Listens on 127.0.0.1 and, where the host has it, [::1]; the error message if either is taken. */
  private async listenTcp(entry: Entry): Promise<string | undefined> {
    const { hostPort } = entry.port;
    for (const host of [BIND_HOST, BIND_HOST6]) {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => void this.accept(entry, s));
      const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        server.once('error', resolve);
        server.listen({ host, port: hostPort, exclusive: true, ipv6Only: host === BIND_HOST6 }, () => resolve(undefined));
      });
      if (err && host === BIND_HOST6 && NO_IPV6.has(err.code ?? '')) break;
      if (err) return listenError(err, host, hostPort, 'tcp');
      server.on('error', (e) => this.log(`port ${hostPort}/tcp listener: ${errorMessage(e)}`));
      entry.servers.push(server);
    }
    return undefined;
  }

  /** The hypervisor forwards 127.0.0.1; the agent relays [::1] to it. */
  private async forwardUdp(entry: Entry): Promise<string | undefined> {
    const { hostPort } = entry.port;
    if (!this.nat) return 'UDP ports are forwarded by the hypervisor, and this agent has no way to reach it';
    try {
      entry.relay = await UdpLoopbackRelay.open(hostPort);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (!NO_IPV6.has(code)) return listenError(e as NodeJS.ErrnoException, BIND_HOST6, hostPort, 'udp');
    }
    const err = await this.nat.add(hostPort);
    if (!err) entry.natAdded = true;
    return err;
  }

  /** Lets go of whatever an entry holds on the host. */
  private release(e: Entry): void {
    for (const server of e.servers) server.close();
    e.servers = [];
    for (const s of e.sockets) s.destroy();
    e.relay?.close();
    e.relay = undefined;
    if (e.natAdded) {
      e.natAdded = false;
      void this.nat?.remove(e.port.hostPort);
    }
  }

  /** Stops listening on a port and drops its open connections. */
  close(key: string, why: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.release(e);
    if (e.state === 'forwarded') this.log(`port ${key} closed (${why})`);
    this.changed();
  }

  closeContainer(id: string, why: string): void {
    for (const [port, e] of [...this.entries]) if (e.port.owner === id) this.close(port, why);
  }

  closeAll(why: string): void {
    for (const port of [...this.entries.keys()]) this.close(port, why);
  }

  private async accept(entry: Entry, sock: net.Socket): Promise<void> {
    sock.on('error', () => {});
    const conn = this.connection();
    if (!conn || this.entries.get(portKey(entry.port)) !== entry) {
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

function listenError(e: NodeJS.ErrnoException, host: string, port: number, proto: Proto): string {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}/${proto}`;
  if (e.code === 'EADDRINUSE') return `${where} is already in use on the host`;
  if (e.code === 'EACCES') return `no permission to listen on ${where} on the host (ports below 1024 need root)`;
  return `cannot listen on ${where}: ${errorMessage(e)}`;
}
