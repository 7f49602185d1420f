/**
 * Ports published by Swarm services (ingress mode): no container binds them, the
 * routing mesh answers on every node at the port. So the agent opens the port on
 * the host and sends each connection to the guest's own loopback at that port,
 * where the mesh takes it (measured: a task on either node answers). Pure parsing
 * here; the watcher does the I/O.
 */
import { obj, portKey, sortPorts, type PublishedPort } from './published.js';

/** Services are keyed in the listener table like containers, under a prefix no container ID has. */
export function serviceKey(id: string): string {
  return `service:${id}`;
}

/** The TCP and UDP ingress ports one service (`GET /services/ID` or an entry of `GET /services`) publishes. */
export function servicePorts(service: unknown): PublishedPort[] {
  const s = obj(service);
  const id = s?.['ID'];
  if (typeof id !== 'string') return [];
  const rawName = obj(s?.['Spec'])?.['Name'];
  const name = typeof rawName === 'string' && rawName !== '' ? rawName : id.slice(0, 12);
  // Endpoint.Ports is filled in by the manager's allocator a moment after `create`, and
  // the create event may be read before it is: a port the user chose is already in the
  // spec. (One the swarm picks itself appears only in Endpoint, with a later update.)
  const allocated = obj(s?.['Endpoint'])?.['Ports'];
  const requested = obj(obj(s?.['Spec'])?.['EndpointSpec'])?.['Ports'];
  const ports = Array.isArray(allocated) && allocated.length > 0 ? allocated : requested;
  const out = new Map<string, PublishedPort>();
  for (const p of Array.isArray(ports) ? ports : []) {
    const port = obj(p);
    const proto = port?.['Protocol'] ?? 'tcp';
    const mode = port?.['PublishMode'] ?? 'ingress';
    const published = Number(port?.['PublishedPort']);
    // Host-mode ports are bound by the task's container: the container watch has them.
    if ((proto !== 'tcp' && proto !== 'udp') || mode !== 'ingress') continue;
    if (!Number.isInteger(published) || published < 1 || published > 65535 || out.has(portKey({ hostPort: published, proto }))) continue;
    out.set(portKey({ hostPort: published, proto }), { hostPort: published, proto, owner: serviceKey(id), name, target: { host: '127.0.0.1', port: published } });
  }
  return sortPorts([...out.values()]);
}

export function allServicePorts(list: unknown): PublishedPort[] {
  return Array.isArray(list) ? list.flatMap(servicePorts) : [];
}

/** A service event that changes which ports are published; undefined when nothing. */
export type ServiceEvent = { kind: 'changed'; id: string } | { kind: 'removed'; id: string };

export function serviceEvent(event: unknown): ServiceEvent | undefined {
  const e = obj(event);
  if ((e?.['Type'] ?? e?.['type']) !== 'service') return undefined;
  const action = e?.['Action'];
  const id = obj(e?.['Actor'])?.['ID'];
  if (typeof action !== 'string' || typeof id !== 'string') return undefined;
  if (action === 'create' || action === 'update') return { kind: 'changed', id };
  if (action === 'remove') return { kind: 'removed', id };
  return undefined;
}
