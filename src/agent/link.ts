import { EventEmitter } from 'node:events';
import { errorMessage } from '../errors.js';
import { waitForBanner } from '../ssh/banner.js';
import { connectSsh, type SshConnection, type SshTarget } from '../ssh/connect.js';
import { isHostKeyChanged } from '../ssh/hostkey.js';
import { batchWritesPerTick } from './batch.js';
import type { LinkState } from './state.js';

export interface LinkOptions {
  /** Reconnect delays double from min to max; reset after a successful login. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  readyTimeoutMs?: number;
}

export interface SshLinkEvents {
  state: [state: LinkState, error: string | undefined, detail: string | undefined];
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
  state: LinkState = 'connecting';
  lastError: string | undefined;

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
      let conn: SshConnection;
      try {
        // Before the first login the guest may still be booting: probe for sshd's
        // banner briefly rather than let a handshake wait out its whole timeout.
        if (this.state === 'connecting') await waitForBanner(this.target.host, this.target.port, 2_000, this.abort.signal);
        conn = await connectSsh(this.target, {
          signal: this.abort.signal,
          readyTimeoutMs: this.opts.readyTimeoutMs ?? 15_000,
          keepaliveIntervalMs: this.opts.keepaliveIntervalMs ?? 5_000,
          keepaliveCountMax: this.opts.keepaliveCountMax ?? 3,
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
      const why = await closed;
      this.conn = undefined;
      if (this.stopped) return;
      this.setState('reconnecting', `SSH link lost: ${why}`);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.abort.signal;
      const done = (): void => {
        clearTimeout(this.timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
