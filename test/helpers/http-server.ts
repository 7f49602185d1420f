import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How the server misbehaves for one file. */
export interface FileBehavior {
  body: Buffer;
  /** Answer 404 instead. */
  notFound?: boolean;
  /** Send this many bytes of the response body, then close the connection; `cutTimes` times (default once). */
  cutAfter?: number;
  cutTimes?: number;
  /** Announce the full length but never send bytes past this absolute offset (a truncated file). */
  truncateAt?: number;
  /** Ignore Range and always answer 200 with the whole body. */
  ignoreRange?: boolean;
  /** Serve these bytes instead of `body` (same length): a corrupted file. */
  wrongBody?: Buffer;
  /** Answer this status (e.g. 503) to the first `failTimes` requests. */
  failStatus?: number;
  failTimes?: number;
  /** Pause this long between 16 KB chunks. */
  chunkDelayMs?: number;
}

export interface LoggedRequest {
  path: string;
  range: string | undefined;
  status: number;
}

/**
 * A real HTTP server on 127.0.0.1 for download tests: Range requests, and on
 * demand the failures downloads meet in the wild. Every request is logged.
 */
export class TestHttpServer {
  readonly log: LoggedRequest[] = [];
  private readonly files = new Map<string, FileBehavior>();
  private readonly cuts = new Map<string, number>();
  private readonly fails = new Map<string, number>();
  private readonly sockets = new Set<Socket>();
  private readonly server = http.createServer((req, res) => void this.handle(req, res));
  port = 0;

  constructor() {
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(p: string): string {
    return `http://127.0.0.1:${this.port}${p}`;
  }

  set(p: string, behavior: FileBehavior | Buffer | string): void {
    const b = typeof behavior === 'string' || Buffer.isBuffer(behavior) ? { body: Buffer.from(behavior) } : behavior;
    this.files.set(p, b);
    this.cuts.delete(p);
    this.fails.delete(p);
  }

  requestsFor(p: string): LoggedRequest[] {
    return this.log.filter((r) => r.path === p);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    const range = req.headers.range;
    const f = this.files.get(p);
    if (!f || f.notFound) {
      this.log.push({ path: p, range, status: 404 });
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (f.failStatus !== undefined) {
      const failed = this.fails.get(p) ?? 0;
      if (failed < (f.failTimes ?? 1)) {
        this.fails.set(p, failed + 1);
        this.log.push({ path: p, range, status: f.failStatus });
        res.writeHead(f.failStatus).end();
        return;
      }
    }
    const body = f.wrongBody ?? f.body;
    const size = body.length;
    let start = 0;
    let status = 200;
    const m = range === undefined || f.ignoreRange ? null : /^bytes=(\d+)-$/.exec(range);
    if (m) {
      start = Number(m[1]);
      if (start >= size) {
        this.log.push({ path: p, range, status: 416 });
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      status = 206;
    }
    this.log.push({ path: p, range, status });
    const headers: http.OutgoingHttpHeaders = { 'content-length': size - start, 'accept-ranges': 'bytes' };
    if (status === 206) headers['content-range'] = `bytes ${start}-${size - 1}/${size}`;
    res.writeHead(status, headers);

    let end = size;
    let cutHere = false;
    const cutsDone = this.cuts.get(p) ?? 0;
    if (f.cutAfter !== undefined && cutsDone < (f.cutTimes ?? 1)) {
      this.cuts.set(p, cutsDone + 1);
      end = Math.min(size, start + f.cutAfter);
      cutHere = true;
    }
    if (f.truncateAt !== undefined && f.truncateAt < end) {
      end = Math.max(start, f.truncateAt);
      cutHere = true;
    }
    for (let off = start; off < end; off += 16 * 1024) {
      const chunk = body.subarray(off, Math.min(end, off + 16 * 1024));
      await new Promise<void>((resolve) => res.write(chunk, () => resolve()));
      if (f.chunkDelayMs) await new Promise((r) => setTimeout(r, f.chunkDelayMs));
      if (res.destroyed) return;
    }
    // Everything written has reached the kernel; closing now sends FIN after it, so the
    // client sees exactly `end - start` bytes and then a connection that ended early.
    if (cutHere) res.socket?.destroy();
    else res.end();
  }
}

/** A buffer the image store accepts as an ISO: `CD001` at 0x8001, random bytes elsewhere. */
export function fakeIso(size = 256 * 1024, seed = 1): Buffer {
  const buf = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    // xorshift: deterministic filler, so two fakes with the same seed are identical.
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    buf[i] = x & 0xff;
  }
  buf[0x8000] = 1;
  buf.write('CD001', 0x8001, 'ascii');
  return buf;
}

export function sha256sums(entries: Record<string, Buffer>): string {
  return Object.entries(entries)
    .map(([name, body]) => `${sha256(body)}  ${name}\n`)
    .join('');
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
