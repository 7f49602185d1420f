import { errorMessage } from '../../errors.js';
import type { SshConnection } from '../../ssh/connect.js';
import type { Log } from '../log.js';
import { EngineHttpError, engineGet, followEvents, type EventStream } from './engine-http.js';
import { PortListeners, type PortStatus } from './listeners.js';
import type { NatForwarder } from './udp.js';
import { allServicePorts, serviceEvent, serviceKey, servicePorts } from './services.js';
import { diffPorts, portEvent, portKey, publishedPorts, runningContainerIds, splitEvents, type PublishedPort } from './published.js';

/**
 * Told about every running container with its inspect document, so other work
 * that depends on containers (file watching) follows the same events without a
 * second subscription.
 */
export interface ContainerObserver {
  containerStarted(id: string, inspect: unknown): void;
  containerStopped(id: string): void;
  /** The full list after a (re)subscription: containers not in it are gone. */
  synced(running: ReadonlyMap<string, unknown>): void;
}

/** How long to wait before following the engine again after its event stream broke while the link stayed up. */
const RESUBSCRIBE_MS = 2_000;

/**
 * Keeps the host's published-port listeners equal to what the engine's running
 * containers publish: on each SSH connection it subscribes to container events,
 * then lists the running containers, then applies events, in that order, so no
 * start or stop falls in a gap. All work runs one step at a time on a queue.
 */
export class PortWatcher {
  private readonly listeners: PortListeners;
  private events: EventStream | undefined;
  private queue: Promise<void> = Promise.resolve();
  /** Bumped on every (re)subscription and link loss: work queued for an older one is dropped. */
  private generation = 0;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastRetryReason: string | undefined;

  constructor(
    private readonly connection: () => SshConnection | undefined,
    private readonly engineSocket: string,
    private readonly log: Log,
    changed: () => void,
    nat?: NatForwarder,
    private readonly observer?: ContainerObserver,
  ) {
    this.listeners = new PortListeners(connection, log, changed, nat);
  }

  status(): PortStatus[] {
    return this.listeners.status();
  }

  /** The link came up: follow the engine on this connection. */
  connected(): void {
    if (this.stopped) return;
    this.subscribe();
  }

  /** The link went down: nothing can be forwarded, so nothing stays open. */
  disconnected(): void {
    this.reset('SSH link lost');
  }

  stop(): void {
    this.stopped = true;
    this.reset('agent stopping');
  }

  private reset(why: string): void {
    this.generation++;
    clearTimeout(this.retry);
    this.retry = undefined;
    this.events?.close();
    this.events = undefined;
    this.listeners.closeAll(why);
  }

  private subscribe(): void {
    this.reset('resubscribing');
    const conn = this.connection();
    if (!conn || this.stopped) return;
    const gen = this.generation;
    let buffer = '';
    const stream = followEvents(
      conn,
      this.engineSocket,
      (text) => {
        const { events, rest } = splitEvents(buffer + text);
        buffer = rest;
        for (const e of events) {
          const ev = portEvent(e);
          if (ev) this.enqueue(gen, () => (ev.kind === 'start' ? this.containerStarted(gen, conn, ev.id) : this.containerStopped(ev.id, 'container stopped')));
          const sv = serviceEvent(e);
          if (sv) this.enqueue(gen, () => (sv.kind === 'changed' ? this.serviceChanged(gen, conn, sv.id) : this.containerStopped(serviceKey(sv.id), 'service removed')));
        }
      },
      (why) => this.resubscribeLater(gen, conn, `engine events: ${why}`),
    );
    this.events = stream;
    // The listing waits for the subscription; events that arrive meanwhile queue behind it.
    this.enqueue(gen, async () => {
      try {
        await stream.ready;
      } catch {
        return; // the stream's end handler retries
      }
      try {
        await this.sync(gen, conn);
      } catch (e) {
        this.resubscribeLater(gen, conn, `cannot list the running containers: ${errorMessage(e)}`);
      }
    });
  }

  /**
   * The engine's events broke (or the listing failed) while the link stayed up: the
   * engine is starting or restarting. Start over shortly; until then nothing is open,
   * since nothing says which ports are still right. Repeated reasons are logged once.
   */
  private resubscribeLater(gen: number, conn: SshConnection, why: string): void {
    if (gen !== this.generation || this.stopped) return;
    if (why !== this.lastRetryReason) this.log(`${why}; following again every ${RESUBSCRIBE_MS / 1000} s`);
    this.lastRetryReason = why;
    this.reset(why);
    this.retry = setTimeout(() => {
      if (this.connection() === conn) this.subscribe();
    }, RESUBSCRIBE_MS);
  }

  private enqueue(gen: number, work: () => Promise<void>): void {
    this.queue = this.queue.then(async () => {
      if (gen !== this.generation) return;
      try {
        await work();
      } catch (e) {
        if (gen === this.generation) this.log(`published ports: ${errorMessage(e)}`);
      }
    });
  }

  /** Opens exactly the ports the running containers publish. */
  private async sync(gen: number, conn: SshConnection): Promise<void> {
    const ids = runningContainerIds(await engineGet(conn, this.engineSocket, '/containers/json'));
    const wanted: PublishedPort[] = [];
    const running = new Map<string, unknown>();
    for (const id of ids) {
      const doc = await this.inspectDoc(conn, id);
      if (doc === undefined) continue;
      running.set(id, doc);
      wanted.push(...publishedPorts(doc));
    }
    const services = await this.services(conn, '/services');
    const servicePortList = allServicePorts(services).filter((p) => !wanted.some((w) => portKey(w) === portKey(p)));
    wanted.push(...servicePortList);
    if (gen !== this.generation) return;
    this.observer?.synced(running);
    const { close, open } = diffPorts(this.listeners.wanted(), wanted);
    for (const port of close) this.listeners.close(port, 'no longer published');
    await Promise.all(open.map((p) => this.listeners.open(p)));
    this.lastRetryReason = undefined;
    this.log(`published ports in sync: ${ids.length} running container(s), ${Array.isArray(services) ? services.length : 0} service(s), ${wanted.length} port(s)`);
  }

  private async containerStarted(gen: number, conn: SshConnection, id: string): Promise<void> {
    const doc = await this.inspectDoc(conn, id);
    const ports = doc === undefined ? [] : publishedPorts(doc);
    if (gen !== this.generation) return;
    if (doc !== undefined) this.observer?.containerStarted(id, doc);
    // A restart may publish different ports than before.
    const mine = new Map([...this.listeners.wanted()].filter(([, p]) => p.owner === id));
    const { close, open } = diffPorts(mine, ports);
    for (const port of close) this.listeners.close(port, 'no longer published');
    await Promise.all(open.map((p) => this.listeners.open(p)));
  }

  /** A service was created or updated: its ingress ports are reachable through the guest's loopback. */
  private async serviceChanged(gen: number, conn: SshConnection, id: string): Promise<void> {
    const ports = servicePorts(await this.services(conn, `/services/${encodeURIComponent(id)}`));
    if (gen !== this.generation) return;
    const key = serviceKey(id);
    const mine = new Map([...this.listeners.wanted()].filter(([, p]) => p.owner === key));
    const taken = new Set([...this.listeners.wanted()].filter(([, p]) => p.owner !== key).map(([k]) => k));
    const { close, open } = diffPorts(mine, ports.filter((p) => !taken.has(portKey(p))));
    for (const port of close) this.listeners.close(port, 'no longer published');
    await Promise.all(open.map((p) => this.listeners.open(p)));
  }

  /**
   * Services exist only on a Swarm manager: elsewhere (no swarm, a worker) the engine
   * answers 503, and a service removed meanwhile 404; both mean no service ports.
   */
  private async services(conn: SshConnection, urlPath: string): Promise<unknown> {
    try {
      return await engineGet(conn, this.engineSocket, urlPath);
    } catch (e) {
      if (e instanceof EngineHttpError && (e.status === 503 || e.status === 404)) return undefined;
      throw e;
    }
  }

  private async containerStopped(id: string, why: string): Promise<void> {
    this.listeners.closeContainer(id, why);
    this.observer?.containerStopped(id);
  }

  /** A container's inspect document; undefined for one removed between the listing and its inspection. */
  private async inspectDoc(conn: SshConnection, id: string): Promise<unknown> {
    try {
      return await engineGet(conn, this.engineSocket, `/containers/${encodeURIComponent(id)}/json`);
    } catch (e) {
      if (e instanceof EngineHttpError && e.status === 404) return undefined;
      throw e;
    }
  }
}
