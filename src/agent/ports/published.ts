/**
 * Pure parsing of the engine's answers: which host ports a container publishes,
 * and what an event means for them. No I/O here, so it is unit-tested alone.
 */

export type Proto = 'tcp' | 'udp';

/** One host port the agent should open on the host's loopback. */
export interface PublishedPort {
  hostPort: number;
  proto: Proto;
  /** Whose port it is: a container id, or serviceKey(id) for a swarm service. */
  owner: string;
  /** Short name for humans (the log, `skiff status`). */
  name: string;
  /** Where, seen from inside the guest, a connection to this port is sent. */
  target: { host: string; port: number };
}

/** A container event that changes which ports are published. */
export type PortEvent = { kind: 'start'; id: string } | { kind: 'stop'; id: string };

/** Host addresses whose binding the guest's loopback or any guest address reaches. */
const FORWARDED_HOST_IPS = new Set(['', '0.0.0.0', '::', '127.0.0.1']);

export type Json = Record<string, unknown>;

/** A JSON object, or undefined for anything else (the engine's answers are checked, not trusted). */
export function obj(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

/**
 * The container's address on one of its networks (any will do: the guest routes
 * to every bridge network it runs).
 */
function containerAddress(settings: Json | undefined): string | undefined {
  const direct = settings?.['IPAddress'];
  if (typeof direct === 'string' && direct !== '') return direct;
  const networks = obj(settings?.['Networks']);
  for (const n of Object.values(networks ?? {})) {
    const ip = obj(n)?.['IPAddress'];
    if (typeof ip === 'string' && ip !== '') return ip;
  }
  return undefined;
}

/**
 * The TCP ports a container publishes, from `GET /containers/ID/json`, one entry per
 * host port (the engine lists 0.0.0.0 and :: bindings of one port separately).
 *
 * The target is the container's own address and private port, not 127.0.0.1:HostPort
 * in the guest: that reaches the container whether dockerd runs its userland proxy
 * or not (with `--userland-proxy=false` the engine's DNAT rule skips 127.0.0.0/8,
 * so the guest's loopback would be refused), and whatever guest address the
 * binding names. Without a container address (unusual network modes) the guest's
 * loopback is the fallback, which works with the userland proxy.
 */
export function publishedPorts(inspect: unknown): PublishedPort[] {
  const c = obj(inspect);
  const id = c?.['Id'];
  if (typeof id !== 'string') return [];
  const state = obj(c?.['State']);
  if (state && state['Running'] === false) return [];
  const rawName = c?.['Name'];
  const name = typeof rawName === 'string' && rawName !== '' ? rawName.replace(/^\//, '') : id.slice(0, 12);
  const settings = obj(c?.['NetworkSettings']);
  const ports = obj(settings?.['Ports']);
  const address = containerAddress(settings);
  const out = new Map<string, PublishedPort>();
  for (const [key, bindings] of Object.entries(ports ?? {})) {
    const m = /^(\d+)\/(tcp|udp|sctp)$/.exec(key);
    if (!m || (m[2] !== 'tcp' && m[2] !== 'udp') || !Array.isArray(bindings)) continue;
    const proto: Proto = m[2];
    const privatePort = Number(m[1]);
    for (const b of bindings) {
      const hostIp = obj(b)?.['HostIp'];
      const hostPort = Number(obj(b)?.['HostPort']);
      if (typeof hostIp !== 'string' || !FORWARDED_HOST_IPS.has(hostIp)) continue;
      if (!Number.isInteger(hostPort) || hostPort < 1 || hostPort > 65535 || out.has(portKey({ hostPort, proto }))) continue;
      out.set(portKey({ hostPort, proto }), {
        hostPort,
        proto,
        owner: id,
        name,
        target: address ? { host: address, port: privatePort } : { host: '127.0.0.1', port: hostPort },
      });
    }
  }
  return sortPorts([...out.values()]);
}

/** A port's key in the listener table: TCP and UDP ports of one number are separate ports. */
export function portKey(p: { hostPort: number; proto: Proto }): string {
  return `${p.hostPort}/${p.proto}`;
}

export function sortPorts<T extends { hostPort: number; proto: Proto }>(ports: T[]): T[] {
  return ports.sort((a, b) => a.hostPort - b.hostPort || a.proto.localeCompare(b.proto));
}

/** The ids of the running containers, from `GET /containers/json`. */
export function runningContainerIds(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((c) => obj(c)?.['Id']).filter((id): id is string => typeof id === 'string');
}

/** What one `/events` object means for published ports; undefined when nothing. */
export function portEvent(event: unknown): PortEvent | undefined {
  const e = obj(event);
  const type = e?.['Type'] ?? e?.['type'];
  if (type !== undefined && type !== 'container') return undefined;
  const action = e?.['Action'] ?? e?.['status'];
  const id = obj(e?.['Actor'])?.['ID'] ?? e?.['id'];
  if (typeof action !== 'string' || typeof id !== 'string') return undefined;
  if (action === 'start') return { kind: 'start', id };
  // `kill` alone does not stop a container (a signal it may handle): `die` follows when it does.
  if (action === 'die' || action === 'stop' || action === 'destroy') return { kind: 'stop', id };
  return undefined;
}

/**
 * Splits a chunk of the event stream into complete JSON objects (the engine writes
 * one per line); the unfinished tail is handed back to be continued.
 */
export function splitEvents(buffer: string): { events: unknown[]; rest: string } {
  const lines = buffer.split('\n');
  const rest = lines.pop() ?? '';
  const events: unknown[] = [];
  for (const line of lines) {
    const t = line.trim();
    if (t === '') continue;
    try {
      events.push(JSON.parse(t));
    } catch {
      // A line that is not JSON is not an event we understand.
    }
  }
  return { events, rest };
}

/** The change that takes the ports now open to the wanted ones. */
export function diffPorts(current: ReadonlyMap<string, PublishedPort>, wanted: readonly PublishedPort[]): { close: string[]; open: PublishedPort[] } {
  const want = new Map(wanted.map((p) => [portKey(p), p]));
  const close: PublishedPort[] = [];
  for (const [key, p] of current) {
    const w = want.get(key);
    if (!w || !samePort(w, p)) close.push(p);
  }
  const open = wanted.filter((w) => {
    const p = current.get(portKey(w));
    return !p || !samePort(w, p);
  });
  return { close: sortPorts(close).map(portKey), open };
}

function samePort(a: PublishedPort, b: PublishedPort): boolean {
  return a.owner === b.owner && a.target.host === b.target.host && a.target.port === b.target.port;
}
