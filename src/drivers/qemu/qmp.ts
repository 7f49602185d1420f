import { EventEmitter } from 'node:events';
import net from 'node:net';

/**
 * A minimal QMP client: connect to QEMU's unix socket, read the greeting,
 * negotiate capabilities, then run commands one JSON line at a time. Replies
 * are matched by "id"; asynchronous events (SHUTDOWN, POWERDOWN, ...) are
 * emitted as 'event' and otherwise ignored.
 */

export interface QmpEvent {
  event: string;
  data?: unknown;
  timestamp?: { seconds: number; microseconds: number };
}

export class QmpError extends Error {
  constructor(
    message: string,
    readonly errorClass?: string,
  ) {
    super(message);
    this.name = 'QmpError';
  }
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class QmpClient extends EventEmitter {
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private greeting?: (msg: Record<string, unknown>) => void;
  private closedError?: Error;

  private constructor(private readonly sock: net.Socket) {
    super();
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new QmpError('QMP connection closed')));
  }

  /** Connects and negotiates; rejects if QEMU does not greet within timeoutMs. */
  static async connect(socketPath: string, opts: { timeoutMs?: number } = {}): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    const sock = net.createConnection(socketPath);
    const client = new QmpClient(sock);
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          client.greeting = (msg) => (msg.QMP !== undefined ? resolve() : reject(new QmpError('no QMP greeting')));
          sock.once('error', reject);
          sock.once('close', () => reject(new QmpError('QMP connection closed before the greeting')));
        }),
        timeoutMs,
        'QMP greeting',
      );
      await client.execute('qmp_capabilities', undefined, { timeoutMs });
      return client;
    } catch (e) {
      client.close();
      throw e;
    }
  }

  async execute<T = unknown>(command: string, args?: Record<string, unknown>, opts: { timeoutMs?: number } = {}): Promise<T> {
    if (this.closedError) throw this.closedError;
    const id = `skiff-${this.nextId++}`;
    const msg = JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id });
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpError(`QMP ${command} timed out after ${opts.timeoutMs ?? 10_000} ms`));
      }, opts.timeoutMs ?? 10_000);
      this.pending.set(id, { resolve: (v) => resolve(v as T), reject, timer });
      this.sock.write(msg + '\n');
    });
  }

  close(): void {
    this.sock.destroy();
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line !== '') this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.fail(new QmpError(`QMP sent invalid JSON: ${line.slice(0, 80)}`));
      return;
    }
    if (this.greeting) {
      const g = this.greeting;
      this.greeting = undefined;
      g(msg);
      return;
    }
    if (typeof msg.event === 'string') {
      this.emit('event', msg as unknown as QmpEvent);
      return;
    }
    const id = typeof msg.id === 'string' ? msg.id : undefined;
    const p = id === undefined ? undefined : this.pending.get(id);
    if (id === undefined || p === undefined) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if ('error' in msg) {
      const err = msg.error as { class?: string; desc?: string } | undefined;
      p.reject(new QmpError(err?.desc ?? 'QMP error', err?.class));
    } else {
      p.resolve(msg.return);
    }
  }

  private fail(e: Error): void {
    if (this.closedError) return;
    this.closedError = e instanceof QmpError ? e : new QmpError(`QMP connection failed: ${e.message}`);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(this.closedError);
    }
    this.pending.clear();
    this.emit('closed', this.closedError);
  }
}

/** Runs one command on a fresh connection: state checks must not hold QEMU's monitor. */
export async function qmpOnce<T = unknown>(
  socketPath: string,
  command: string,
  args?: Record<string, unknown>,
  timeoutMs = 5000,
): Promise<T> {
  const c = await QmpClient.connect(socketPath, { timeoutMs });
  try {
    return await c.execute<T>(command, args, { timeoutMs });
  } finally {
    c.close();
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new QmpError(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
