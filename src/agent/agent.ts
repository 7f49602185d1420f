import { createRequire } from 'node:module';
import net from 'node:net';
import type { ClientChannel } from 'ssh2';
import { errorMessage } from '../errors.js';
import { loadSshTarget } from '../ssh/connect.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { removeQuietly } from './files.js';
import { joinStreams, openStreamLocal } from './forward.js';
import { GuestClock } from './clock.js';
import { DEFAULT_KEEPALIVE_MS, SshLink, type LinkOptions } from './link.js';
import { pauseCause } from '../drivers/pause.js';
import { collapsingRepeats, type Log } from './log.js';
import { natForwarder } from './ports/udp.js';
import { PortWatcher } from './ports/watcher.js';
import { listenUnix, prepareSocketPath } from './socket.js';
import { DEFAULT_REMOTE_SOCKET, type AgentSpec } from './spec.js';
import { writeAgentState, writeAgentStateSync, type AgentState } from './state.js';
import { WakeWatch } from './wake.js';
import { GuestMounts } from './guest-mounts.js';
import { FileWatch } from './watch/file-watch.js';

/** A remote host's sshd may be a slow board behind Wi-Fi, or a continent away. */
const REMOTE_BANNER_TIMEOUT_MS = 10_000;

export interface AgentOptions extends LinkOptions {
  /**
   * How long a client that connects while the link is down waits for it to come
   * back before it is closed. Short: `docker` then prints a clean error instead of hanging.
   */
  downWaitMs?: number;
  /**
   * The same once the link was up and dropped (the VM paused, the host slept):
   * long, so a docker command issued meanwhile completes once the guest is back.
   */
  resumeWaitMs?: number;
}

/** One machine's agent: the SSH link, the local socket, and the files that describe them. */
export class Agent {
  private readonly server: net.Server;
  private readonly clients = new Set<net.Socket>();
  private link: SshLink | undefined;
  private ports: PortWatcher | undefined;
  private clock: GuestClock | undefined;
  private wake: WakeWatch | undefined;
  private fileWatch: FileWatch | undefined;
  private mounts: GuestMounts | undefined;
  private served = 0;
  private stateTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private ownsFiles = false;
  private stateWrites: Promise<void> = Promise.resolve();
  private readonly since = new Date().toISOString();
  private stateSince = this.since;

  constructor(
    private readonly spec: AgentSpec,
    private readonly log: Log,
    private readonly opts: AgentOptions = {},
  ) {
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.accept(s));
  }

  /** Resolves once the socket listens; the SSH link comes up in the background. */
  async start(onFatal: (e: Error) => void): Promise<void> {
    const spec = this.spec;
    const target = await loadSshTarget({
      host: spec.sshHost,
      port: spec.sshPort,
      user: spec.user,
      ...(spec.keyPath ? { keyPath: spec.keyPath } : {}),
      ...(spec.sshAgent ? { agent: spec.sshAgent } : {}),
      hostPubPath: spec.hostPubPath,
      remote: spec.remoteHost ?? false,
    });
    // Checked before any file is written: a live agent's socket and pid file are not ours to touch.
    await prepareSocketPath(spec.socketPath);
    await writeFileAtomic(spec.pidPath, `${process.pid}\n`, { mode: 0o600 });
    this.ownsFiles = true;
    await this.writeState();
    await listenUnix(this.server, spec.socketPath);
    this.log(`listening on ${spec.socketPath}, forwarding to ${spec.user}@${spec.sshHost}:${spec.sshPort}:${this.remote()}`);
    this.log(`ssh2 native crypto binding: ${nativeCryptoBinding() ? 'in use' : 'not available (pure JS/OpenSSL crypto)'}`);

    const pause = spec.pause;
    const vmPaused = pause ? () => pauseCause(pause).then((c) => c !== undefined) : undefined;
    const link = (this.link = new SshLink(target, {
      ...this.opts,
      ...(vmPaused ? { vmPaused } : {}),
      ...(spec.remoteHost ? { bannerTimeoutMs: REMOTE_BANNER_TIMEOUT_MS } : {}),
    }));
    if (spec.watch) this.fileWatch = new FileWatch(spec.watch, () => link.current(), this.log, () => void this.writeState());
    if (spec.mounts) this.mounts = new GuestMounts(spec.mounts.command, this.log, () => void this.writeState());
    // Port changes are rare and `skiff status` should show them at once: written straight away.
    const ports = (this.ports = new PortWatcher(() => link.current(), this.remote(), this.log, () => void this.writeState(), natForwarder(spec.udp), this.fileWatch));
    // A remote host keeps its own time (NTP, its owner's settings): only a guest's clock is skiff's to set.
    const clock = (this.clock = spec.remoteHost
      ? undefined
      : new GuestClock(this.log, {
          stallMs: (this.opts.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_MS) + 2_000,
        }));
    this.wake = new WakeWatch((_gap, why) => {
      this.log(`${why}: checking the link${clock ? " and the guest's clock" : ''}`);
      link.nudge(why);
      clock?.resync(why);
    });
    this.wake.start();
    const linkLog = collapsingRepeats(this.log);
    link.on('note', (text) => linkLog(text));
    link.on('state', (state, error, detail) => {
      this.stateSince = new Date().toISOString();
      linkLog(error ? `ssh ${state}: ${error}` : `ssh ${state}${detail ? ` (${detail})` : ''}`);
      void this.writeState();
      const conn = link.current();
      if (state === 'connected' && conn) {
        clock?.connected(conn);
        this.mounts?.connected(conn);
      } else clock?.disconnected();
      if (state === 'connected') ports.connected();
      else ports.disconnected();
    });
    link.on('fatal', onFatal);
    link.start();
  }

  private remote(): string {
    return this.spec.remoteSocket ?? DEFAULT_REMOTE_SOCKET;
  }

  private async accept(sock: net.Socket): Promise<void> {
    if (this.closing) {
      sock.destroy();
      return;
    }
    this.clients.add(sock);
    this.served++;
    this.scheduleState();
    sock.on('error', () => {});
    try {
      const channel = await this.openChannel(sock);
      if (!channel) {
        sock.destroy();
        return;
      }
      await joinStreams(sock, channel);
    } finally {
      this.clients.delete(sock);
      this.scheduleState();
    }
  }

  /**
   * A guest channel for one client. A connection that dies while the channel is
   * being opened (the VM paused long enough for the keepalive to give up) is not
   * the client's failure: it waits for the next one.
   */
  private async openChannel(sock: net.Socket): Promise<ClientChannel | undefined> {
    const link = this.link;
    while (link && !sock.destroyed && !this.closing) {
      const wait = link.state === 'reconnecting' ? (this.opts.resumeWaitMs ?? 600_000) : (this.opts.downWaitMs ?? 3_000);
      const conn = await link.connection(wait);
      if (!conn || sock.destroyed) return undefined;
      try {
        return await openStreamLocal(conn, this.remote());
      } catch (e) {
        if (link.current() === conn && !conn.socket.destroyed) {
          this.log(`cannot open ${this.remote()} in the guest: ${errorMessage(e)}`);
          return undefined;
        }
        await new Promise((r) => setImmediate(r));
      }
    }
    return undefined;
  }

  /** Connection counters change often; the state file is rewritten at most once a second for them. */
  private scheduleState(): void {
    if (this.stateTimer || this.closing) return;
    this.stateTimer = setTimeout(() => {
      this.stateTimer = undefined;
      void this.writeState();
    }, 1_000);
    this.stateTimer.unref();
  }

  /** False while the guest cannot answer: the link is down, or held through a VM pause. */
  guestAnswers(): boolean {
    return this.link?.state === 'connected' && !this.link.heldThroughPause;
  }

  /** The VM runs again after a pause skiff knows of: reconnect and resync the clock now, not at the next probe. */
  vmResumed(why: string): void {
    // A link held through the pause carries on by itself; a probe now could time out on a guest busy catching up.
    if (!this.link?.heldThroughPause) this.link?.nudge(why);
    this.clock?.resync(why);
  }

  snapshot(): AgentState {
    return {
      pid: process.pid,
      machine: this.spec.machine,
      state: this.link?.state ?? 'connecting',
      since: this.stateSince,
      ...(this.link?.lastError ? { lastError: this.link.lastError } : {}),
      connectionsServed: this.served,
      connectionsActive: this.clients.size,
      ports: this.ports?.status() ?? [],
      ...(this.fileWatch ? { watch: this.fileWatch.status() } : {}),
      ...(this.mounts?.status() ? { mounts: this.mounts.status() } : {}),
    };
  }

  /**
   * Writes are chained, and each takes its snapshot when its turn comes: two quick
   * link changes can never land on disk in the wrong order.
   */
  private writeState(): Promise<void> {
    this.stateWrites = this.stateWrites.then(async () => {
      if (this.closing) return;
      try {
        await writeAgentState(this.spec.statePath, this.snapshot());
      } catch (e) {
        this.log(`cannot write state file: ${errorMessage(e)}`);
      }
    });
    return this.stateWrites;
  }

  /**
   * Stops serving and removes the files that say an agent runs. With `failure`
   * the state file stays, marked failed, so whoever started us can read why.
   */
  async shutdown(failure?: string): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.stateTimer);
    this.server.close();
    for (const s of this.clients) s.destroy();
    this.ports?.stop();
    this.fileWatch?.stop();
    this.wake?.stop();
    this.clock?.stop();
    this.link?.stop();
    // A write already under way would otherwise recreate the state file after its removal.
    await this.stateWrites;
    if (!this.ownsFiles) return;
    removeQuietly(this.spec.socketPath);
    removeQuietly(this.spec.pidPath);
    if (failure === undefined) removeQuietly(this.spec.statePath);
    else {
      try {
        writeAgentStateSync(this.spec.statePath, { ...this.snapshot(), state: 'failed', lastError: failure });
      } catch {
        // The log line carries the error too.
      }
    }
  }
}

/** ssh2 loads an optional compiled crypto binding when present; the agent works either way. */
function nativeCryptoBinding(): boolean {
  try {
    const crypto = createRequire(import.meta.url)('ssh2/lib/protocol/crypto.js') as { bindingAvailable?: boolean };
    return crypto.bindingAvailable === true;
  } catch {
    return false;
  }
}
