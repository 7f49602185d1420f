import { errorMessage } from '../errors.js';
import type { SshConnection } from '../ssh/connect.js';
import { channelExit, openExec } from '../ssh/exec.js';
import type { Log } from './log.js';

/** A step sleeps up to 1 s in the guest; anything much slower is a stalled guest. */
const EXEC_TIMEOUT_MS = 10_000;

/** The kernel reports tv_usec in nanoseconds while STA_NANO is set in the status word. */
const STA_NANO = 0x2000;

export interface GuestTime {
  /** The guest's wall clock in ms since the epoch (sub-ms precision). */
  ms: number;
  nano: boolean;
}

/**
 * Reads busybox `adjtimex`'s report. The guest's busybox `date` prints whole
 * seconds only; adjtimex(2) gives the wall clock to the micro/nanosecond.
 */
export function parseAdjtimex(text: string): GuestTime {
  const field = (name: string): number => {
    const m = new RegExp(`${name.replace('.', '\\.')}:\\s*(-?\\d+)`).exec(text);
    if (!m) throw new Error(`no ${name} in the guest's adjtimex output`);
    return Number(m[1]);
  };
  const nano = (field('status') & STA_NANO) !== 0;
  const sec = field('time.tv_sec');
  const frac = field('time.tv_usec');
  return { ms: sec * 1000 + (nano ? frac / 1e6 : frac / 1e3), nano };
}

/**
 * A guest script that steps its clock by -offsetMs with sub-second precision
 * although `date -s` takes whole seconds: it reads its own clock, sleeps until
 * the corrected time reaches the next whole second, then sets exactly that second.
 */
export function stepScript(offsetMs: number, nano: boolean): string {
  const offsetUs = Math.round(offsetMs * 1000);
  return [
    `set -- $(adjtimex | sed -n 's/.*time\\.tv_sec: *//p; s/.*time\\.tv_usec: *//p')`,
    `h=$(( $1 * 1000000 + $2 / ${nano ? 1000 : 1} - (${offsetUs}) ))`,
    'n=$(( h / 1000000 + 1 ))',
    'usleep $(( n * 1000000 - h )) && date -u -s @$n >/dev/null',
  ].join('\n');
}

/**
 * How often to check the guest's clock: a check costs one exec round trip, so
 * checks are kept to ~0.5% of the time (200x their cost), between 5 s and 60 s.
 * Measured: ~90 ms a check under TCG (every 18 s), a few ms with KVM (every 5 s).
 */
export function choosePeriodMs(costMs: number): number {
  return Math.min(60_000, Math.max(5_000, Math.round(costMs * 200)));
}

export interface ClockOptions {
  /** Steps below this are left alone (lima uses 100 ms too). */
  stepThresholdMs?: number;
  /** A round trip slower than this gives too coarse a reading: retried shortly. */
  maxRttMs?: number;
  /** A silence from the guest longer than this, then traffic again, means it was stopped. */
  stallMs?: number;
  now?: () => number;
}

interface Reading {
  offsetMs: number;
  rttMs: number;
  nano: boolean;
}

/**
 * Keeps the guest's clock on the host's, over the agent's SSH link: no NTP and
 * no network. Synced on every (re)connect, after the guest was seen stalled (a
 * VM pause), on request (a host resume), and periodically.
 */
export class GuestClock {
  private conn: SshConnection | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private pending: string | undefined;
  private stopped = false;
  private lastData = 0;
  costMs: number | undefined;
  lastOffsetMs: number | undefined;

  constructor(
    private readonly log: Log,
    private readonly opts: ClockOptions = {},
  ) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  connected(conn: SshConnection): void {
    this.conn = conn;
    this.lastData = performance.now();
    const stallMs = this.opts.stallMs ?? 4_000;
    // Keepalive replies arrive every few seconds even when idle: a longer silence that
    // ends means the guest did not run in between (QMP stop, SIGSTOP of QEMU).
    conn.socket.on('data', () => {
      const t = performance.now();
      const gap = t - this.lastData;
      this.lastData = t;
      if (gap > stallMs && this.conn === conn) this.resync(`guest silent for ${(gap / 1000).toFixed(1)} s`);
    });
    this.resync('link up');
  }

  disconnected(): void {
    this.conn = undefined;
    clearTimeout(this.timer);
  }

  stop(): void {
    this.stopped = true;
    this.disconnected();
  }

  /** Checks (and if need be steps) the guest's clock as soon as possible. */
  resync(reason: string): void {
    if (this.stopped || !this.conn) return;
    if (this.running) {
      this.pending = reason;
      return;
    }
    void this.run(reason);
  }

  private async run(reason: string): Promise<void> {
    this.running = true;
    clearTimeout(this.timer);
    let retryMs: number | undefined;
    try {
      retryMs = await this.sync(reason);
    } catch (e) {
      if (this.conn) this.log(`guest clock check failed (${reason}): ${errorMessage(e)}`);
      retryMs = 5_000;
    } finally {
      this.running = false;
    }
    if (this.stopped || !this.conn) return;
    const again = this.pending;
    this.pending = undefined;
    if (again !== undefined) return this.resync(again);
    this.timer = setTimeout(() => this.resync('periodic'), retryMs ?? choosePeriodMs(this.costMs ?? 1_000));
    this.timer.unref();
  }

  /** Returns a delay to retry after when the reading was too coarse. */
  private async sync(reason: string): Promise<number | undefined> {
    const conn = this.conn;
    if (!conn) return undefined;
    const r = await this.read(conn);
    if (r.rttMs > (this.opts.maxRttMs ?? 1_000)) return 1_000;
    this.costMs = r.rttMs;
    this.lastOffsetMs = r.offsetMs;
    if (Math.abs(r.offsetMs) < (this.opts.stepThresholdMs ?? 100)) {
      if (reason !== 'periodic') this.log(`guest clock ${fmt(r.offsetMs)} off the host's (${reason}): left as it is`);
      return undefined;
    }
    await this.exec(conn, stepScript(r.offsetMs, r.nano));
    const after = await this.read(conn);
    this.lastOffsetMs = after.offsetMs;
    this.log(
      `guest clock was ${fmt(r.offsetMs)} off the host's (${reason}): stepped, now ${fmt(after.offsetMs)} (±${Math.round(after.rttMs / 2)} ms)`,
    );
    return undefined;
  }

  /** The guest's clock minus the host's, read at the middle of one round trip. */
  private async read(conn: SshConnection): Promise<Reading> {
    const t0 = this.now();
    const out = await this.exec(conn, 'adjtimex');
    const t1 = this.now();
    const g = parseAdjtimex(out);
    return { offsetMs: g.ms - (t0 + t1) / 2, rttMs: t1 - t0, nano: g.nano };
  }

  /** A guest that stops answering mid-check must not hold every later check up. */
  private async exec(conn: SshConnection, command: string): Promise<string> {
    const channel = await openExec(conn.client, command);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    channel.on('data', (d: Buffer) => out.push(d));
    channel.stderr.on('data', (d: Buffer) => err.push(d));
    channel.end();
    let timer: NodeJS.Timeout | undefined;
    try {
      const { code } = await Promise.race([
        channelExit(channel, command),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${EXEC_TIMEOUT_MS} ms`)), EXEC_TIMEOUT_MS);
        }),
      ]);
      if (code !== 0) throw new Error(`\`${command.split('\n')[0]}\` exited ${code}: ${Buffer.concat(err).toString().trim()}`);
      return Buffer.concat(out).toString();
    } finally {
      clearTimeout(timer);
      channel.close();
    }
  }
}

function fmt(ms: number): string {
  return `${ms >= 0 ? '+' : ''}${(ms / 1000).toFixed(3)} s`;
}
