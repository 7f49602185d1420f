import net from 'node:net';

/**
 * One raw HTTP/1.1 keep-alive connection to the Docker API socket: lets a test hold
 * many connections open and prove each one still answers later.
 */
export class ApiConnection {
  private buf = '';
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => {});
  }

  static open(socketPath: string, timeoutMs = 30_000): Promise<ApiConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socketPath);
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error('connect timed out'));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(t);
        resolve(new ApiConnection(s));
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** GET /_ping on this connection; resolves with the body ("OK") or rejects. */
  async ping(timeoutMs = 60_000): Promise<string> {
    this.buf = '';
    this.sock.write('GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = this.buf.slice(0, end);
        const len = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? NaN);
        const body = this.buf.slice(end + 4);
        if (!/^HTTP\/1\.1 200/.test(head)) throw new Error(`unexpected reply: ${head.split('\r\n')[0]}`);
        if (Number.isFinite(len) && body.length >= len) return body.slice(0, len);
      }
      if (this.closed) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('ping timed out');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  close(): void {
    this.sock.destroy();
  }
}
