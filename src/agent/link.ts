import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { errorMessage } from '../errors.js';
import { connectWithBanner } from '../ssh/banner.js';
import { connectSsh, type SshConnection, type SshTarget } from '../ssh/connect.js';
import { isHostKeyChanged } from '../ssh/hostkey.js';
import { batchWritesPerTick } from './batch.js';
import type { LinkState } from './state.js';

/**
 * SSH keepalive: a ping every 2 s lets the agent see a guest that stopped
 * answering (a paused VM) within seconds; 10 unanswered keep a busy guest under
 * TCG from being dropped too eagerly (dead after ~22 s, as before).
 */
export const DEFAULT_KEEPALIVE_MS = 2_000;
export const DEFAULT_KEEPALIVE_COUNT = 10;
/** How long a link that looks up may take to answer after the agent wakes. */
const PROBE_MS = 1_500;

export interface LinkOptions {
  /** Reconnect delays double from min to max; reset after a successful login. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  readyTimeoutMs?: number;
  /**
   * How long sshd's banner may take: short for a guest on loopback (booting, it
   * often answers nothing at all); a remote host over Wi-Fi or far away gets more.
   */
  bannerTimeoutMs?: number;
  /**
   * Asked when the guest has been silent for the whole keepalive budget: true
   * (the hypervisor says the VM is paused) keeps the link, so connections in
   * flight, a `docker run` attached to its container, go on when the VM does.
   * Without it, or when it says false, the silent link is dropped and rebuilt.
   */
  vmPaused?: () => Promise<boolean>;
}

export interface SshLinkEvents {
  state: [state: LinkState, error: string | undefined, detail: string | undefined];
  /** Something worth a line in the agent's log that changes no state (a link held through a pause). */
  note: [text: string];
  /** A failure that retrying cannot fix (host key changed): the link has stopped. */
  fatal: [error: Error];
}

/**
 * The agent's one SSH connection to the guest, kept up: on a drop (socket closed,
 * keepalive unanswered) it reconnects with capped exponential backoff.
 */
export class SshLink extends EventEmitter<SshLinkEvents> {
  private conn: SshConnection | undefined;
  private stopped = false;
  private abort = new AbortController();
  private waiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private wakeSleep: (() => void) | undefined;
  private resetBackoff = false;
  state: LinkState = 'connecting';
  lastError: string | undefined;
  /** True while the link is kept through a VM pause (see watchSilence). */
  heldThroughPause = false;

  constructor(
    private readonly target: SshTarget,
    private readonly opts: LinkOptions = {},
  ) {
    super();
  }

  start(): void {
    void this.loop();
  }

  current(): SshConnection | undefined {
    return this.conn;
  }

  /** The live connection, waiting up to `ms` for one while the link is down. */
  async connection(ms: number): Promise<SshConnection | undefined> {
    if (this.conn || this.stopped) return this.conn;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        // A client that timed out must not stay queued while the link is down.
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.waiters.push(done);
    });
    return this.conn;
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.timer);
    this.conn?.client.end();
    this.conn = undefined;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private setState(state: LinkState, error?: string, detail?: string): void {
    this.state = state;
    if (error !== undefined) this.lastError = error;
    this.emit('state', state, error, detail);
  }

  private async loop(): Promise<void> {
    const min = this.opts.backoffMinMs ?? 250;
    const max = this.opts.backoffMaxMs ?? 5_000;
    let delay = min;
    while (!this.stopped) {
      if (this.resetBackoff) delay = min;
      this.resetBackoff = false;
      let conn: SshConnection;
      try {
        // The guest may be booting, or paused (QEMU's user network then accepts the
        // connection but nothing answers): a handshake would wait out its whole
        // timeout, so probe for sshd's banner, often and briefly, until it answers.
        // A VM that does not run (a resume still loading its state, a pause) cannot
        // answer: a probe now only queues a SYN the guest sees late, and waits out its timeout.
        if (await this.vmHeld()) {
          await this.sleep(100);
          continue;
        }
        const socket = await this.bannerUp();
        if (!socket) continue;
        conn = await connectSsh(this.target, {
          socket,
          signal: this.abort.signal,
          readyTimeoutMs: this.opts.readyTimeoutMs ?? 15_000,
          keepaliveIntervalMs: this.opts.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_MS,
          // With a pause check, ssh2 only sends the pings; watchSilence decides when the link is dead.
          keepaliveCountMax: this.opts.vmPaused ? Number.MAX_SAFE_INTEGER : (this.opts.keepaliveCountMax ?? DEFAULT_KEEPALIVE_COUNT),
        });
      } catch (e) {
        if (this.stopped) return;
        if (isHostKeyChanged(e)) {
          this.stopped = true;
          this.setState('failed', errorMessage(e));
          this.wake();
          this.emit('fatal', e as Error);
          return;
        }
        const first = this.state === 'connecting';
        this.setState(first ? 'connecting' : 'reconnecting', errorMessage(e));
        await this.sleep(delay);
        // Until the first login the guest is booting and sshd appears any moment:
        // retrying at most every second keeps `skiff start` from idling.
        delay = Math.min(delay * 2, first ? Math.min(max, 1_000) : max);
        continue;
      }
      if (this.stopped) {
        conn.client.end();
        return;
      }
      delay = min;
      batchWritesPerTick(conn.socket);
      this.conn = conn;
      const closed = new Promise<string>((resolve) => {
        let why = 'connection closed';
        conn.client.on('error', (e: Error) => {
          why = errorMessage(e);
        });
        conn.client.once('close', () => resolve(why));
      });
      this.setState('connected', undefined, conn.cipher);
      this.wake();
      const silence = this.opts.vmPaused ? this.watchSilence(conn) : undefined;
      const why = await closed;
      clearInterval(silence);
      this.heldThroughPause = false;
      this.conn = undefined;
      if (this.stopped) return;
      this.setState('reconnecting', `SSH link lost: ${why}`);
    }
  }

  /**
   * ssh2's keepalive, with one question before giving up: a guest silent for the
   * whole budget (interval x count) is dropped unless its VM is paused, which
   * the hypervisor can tell apart from a dead link. A frozen QEMU (SIGSTOP) does
   * not answer that question either, and is dropped.
   */
  private watchSilence(conn: SshConnection): NodeJS.Timeout {
    const interval = this.opts.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_MS;
    const budget = interval * ((this.opts.keepaliveCountMax ?? DEFAULT_KEEPALIVE_COUNT) + 1);
    let lastHeard = Date.now();
    let asking = false;
    conn.socket.on('data', () => {
      lastHeard = Date.now();
      if (this.heldThroughPause) this.emit('note', 'the guest answers again: the link held through the pause');
      this.heldThroughPause = false;
    });
    return setInterval(() => {
      if (asking || this.conn !== conn || Date.now() - lastHeard < budget) return;
      asking = true;
      void this.vmHeld().then((paused) => {
        asking = false;
        if (this.conn !== conn || Date.now() - lastHeard < budget) return;
        if (paused) {
          if (!this.heldThroughPause) this.emit('note', 'the guest is silent because its VM is paused: holding the link until it runs again');
          this.heldThroughPause = true;
          return;
        }
        conn.client.emit('error', new Error(`Keepalive timeout (no answer for ${((Date.now() - lastHeard) / 1000).toFixed(1)} s, and the VM is not paused)`));
        conn.client.end();
        conn.socket.destroy();
      });
    }, interval);
  }

  /** The hypervisor says the VM is paused; when it cannot say, false: the link is then judged as for a running VM. */
  private async vmHeld(): Promise<boolean> {
    return this.opts.vmPaused ? this.opts.vmPaused().catch(() => false) : false;
  }

  /**
   * The connection once sshd's banner answers on it (the login goes on over it);
   * undefined after a short pause when it does not (the loop then probes again: a
   * probe is one local TCP connection, cheap enough to repeat every few hundred
   * ms, so the link is back within ~1 s of the guest).
   */
  private async bannerUp(): Promise<net.Socket | undefined> {
    try {
      const timeoutMs = this.opts.bannerTimeoutMs ?? (this.state === 'connecting' ? 2_000 : 1_000);
      return await connectWithBanner(this.target.host, this.target.port, timeoutMs, this.abort.signal);
    } catch (e) {
      if (this.stopped) return undefined;
      this.setState(this.state === 'connecting' ? 'connecting' : 'reconnecting', errorMessage(e));
      await this.sleep(250);
      return undefined;
    }
  }

  /**
   * Called when the agent itself did not run for a while (the host slept, or it
   * was stopped): a link that is down reconnects at once; a link that looks up gets
   * one round trip to prove it, else it is dropped and rebuilt now rather than
   * after the keepalive gives up.
   */
  nudge(why: string): void {
    if (this.stopped) return;
    const conn = this.conn;
    if (!conn) {
      this.resetBackoff = true;
      this.wakeSleep?.();
      return;
    }
    const t = setTimeout(() => {
      if (this.conn !== conn) return;
      conn.client.emit('error', new Error(`no answer from the guest within ${PROBE_MS} ms after ${why}`));
      conn.client.end();
      conn.socket.destroy();
    }, PROBE_MS);
    // Any reply proves the link, and cancelling a forward that does not exist has
    // no effect in the guest: the cheapest round trip ssh2's public API offers.
    try {
      conn.client.unforwardIn('127.0.0.1', 1, () => clearTimeout(t));
    } catch {
      clearTimeout(t);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.abort.signal;
      const done = (): void => {
        clearTimeout(this.timer);
        this.wakeSleep = undefined;
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.wakeSleep = done;
      this.timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
