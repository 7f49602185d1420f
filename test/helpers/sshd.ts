/**
 * A real OpenSSH sshd on 127.0.0.1 for integration tests and the tunnel bench,
 * plus stand-ins for the guest's unix sockets (a byte stream server and a tiny
 * HTTP server answering GET /_ping like dockerd).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generateEd25519 } from '../../src/ssh/keys.js';

export const SSHD_BIN = '/usr/sbin/sshd';

export interface TestSshd {
  host: string;
  port: number;
  user: string;
  dir: string;
  /** The client's private key (authorized in this sshd) and the sshd's public host key. */
  keyPath: string;
  hostPubPath: string;
  /** A second host key the server does NOT use, for mismatch tests. */
  otherHostPubPath: string;
  pid(): number | undefined;
  /** The per-connection processes under the listener (to freeze a link without closing it). */
  sessionPids(): number[];
  /** Kills the sshd and every session process under it: established connections drop. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same keys. */
  restart(): Promise<void>;
  /** Kills it and removes its temp dir. */
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
  });
}

function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 4 (ppid) follows the parenthesised command, which may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(name), ppid);
    } catch {
      // Exited while we looked.
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [pid, pp] of parent) {
      if (pp === p) {
        out.push(pid);
        walk(pid);
      }
    }
  };
  walk(root);
  return out;
}

function tryKill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone already.
  }
}

async function waitPort(port: number, timeoutMs: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited ${child.exitCode}: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${port}: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startSshd(opts: { port?: number; env?: Record<string, string> } = {}): Promise<TestSshd> {
  if (!existsSync(SSHD_BIN)) throw new Error(`${SSHD_BIN} not found (install openssh-server)`);
  // As root sshd insists on its privilege separation dir; systemd normally creates it.
  if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-sshd-'));
  const user = os.userInfo().username;
  const host = generateEd25519('test-host');
  const other = generateEd25519('other-host');
  const client = generateEd25519('test-client');
  const p = (f: string): string => path.join(dir, f);
  await writeFile(p('ssh_host_ed25519_key'), host.private, { mode: 0o600 });
  await writeFile(p('ssh_host_ed25519_key.pub'), host.public);
  await writeFile(p('other_host_ed25519_key.pub'), other.public);
  await writeFile(p('id_ed25519'), client.private, { mode: 0o600 });
  await writeFile(p('id_ed25519.pub'), client.public);
  await writeFile(p('authorized_keys'), client.public, { mode: 0o600 });
  const port = opts.port ?? (await freePort());
  await writeFile(
    p('sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${p('ssh_host_ed25519_key')}`,
      'PidFile none',
      'UsePAM no',
      'StrictModes no',
      `AuthorizedKeysFile ${p('authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'AllowStreamLocalForwarding yes',
      'AllowTcpForwarding yes',
      'MaxSessions 100',
      'MaxStartups 100',
      'LogLevel ERROR',
      // Sessions get a home of their own, so the shell never runs the developer's startup
      // files: a stale pyenv rehash lock in root's .bashrc once held every exec for 60 s.
      `SetEnv HOME=${dir}${Object.entries(opts.env ?? {}).map(([k, v]) => ` ${k}=${v}`).join('')}`,
      '',
    ].join('\n'),
  );

  let child: ChildProcess | undefined;
  let stderr = '';
  const launch = async (): Promise<void> => {
    stderr = '';
    const c = spawn(SSHD_BIN, ['-D', '-e', '-f', p('sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child = c;
    await waitPort(port, 10_000, c, () => stderr);
  };
  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c?.pid || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    // Everything stopped first, so that nothing forks between the listing and the kill (an agent
    // reconnecting at once could otherwise log in to a session that outlives it); then the
    // session processes (setsid'd children), then the listener.
    tryKill(c.pid, 'SIGSTOP');
    for (const pid of descendants(c.pid)) tryKill(pid, 'SIGSTOP');
    for (const pid of descendants(c.pid).reverse()) tryKill(pid, 'SIGKILL');
    tryKill(c.pid, 'SIGKILL');
    await exited;
  };
  await launch();
  return {
    host: '127.0.0.1',
    port,
    user,
    dir,
    keyPath: p('id_ed25519'),
    hostPubPath: p('ssh_host_ed25519_key.pub'),
    otherHostPubPath: p('other_host_ed25519_key.pub'),
    pid: () => child?.pid,
    sessionPids: () => (child?.pid ? descendants(child.pid) : []),
    kill,
    restart: launch,
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface StreamResult {
  mode: 'sink' | 'source' | 'echo';
  bytes: number;
  sha256: string;
}

/**
 * A unix socket server standing in for a guest socket. A client's first line picks
 * the mode:
 *   "SINK\n"       consume everything; after the client's EOF reply "<bytes> <sha256>\n" and close
 *   "SOURCE <n>\n" send n random bytes, then close
 *   "ECHO\n"       echo until the client's EOF, then close
 * Each finished connection is recorded (with the sha256 of what the server read or
 * wrote) and emitted as 'result'; the sink also emits 'bytes' as data arrives.
 */
export class StreamServer extends EventEmitter {
  readonly results: StreamResult[] = [];
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  /** Shared payload for `fast` sources: generating random bytes would cost more than the tunnel. */
  private readonly block = randomBytes(1024 * 1024);

  /** `fast` (benchmarks): no hashing, and sources repeat one random block. */
  constructor(
    readonly path: string,
    private readonly opts: { fast?: boolean } = {},
  ) {
    super();
    this.server = net.createServer({ allowHalfOpen: true }, (s) => this.handle(s));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, () => resolve());
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private record(r: StreamResult): void {
    this.results.push(r);
    this.emit('result', r);
  }

  private handle(s: net.Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => {});
    let head = Buffer.alloc(0);
    const onHead = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(10);
      if (nl < 0) return;
      s.removeListener('data', onHead);
      const line = head.subarray(0, nl).toString();
      const rest = head.subarray(nl + 1);
      if (line === 'SINK') this.sink(s, rest);
      else if (line === 'ECHO') this.echo(s, rest);
      else if (line.startsWith('SOURCE ')) this.source(s, Number(line.slice(7)));
      else s.destroy();
    };
    s.on('data', onHead);
  }

  private sink(s: net.Socket, first: Buffer): void {
    const h = createHash('sha256');
    const fast = this.opts.fast === true;
    let bytes = 0;
    const take = (b: Buffer): void => {
      if (b.length === 0) return;
      if (!fast) h.update(b);
      bytes += b.length;
      this.emit('bytes', bytes);
    };
    take(first);
    s.on('data', take);
    s.on('end', () => {
      const sha256 = h.digest('hex');
      this.record({ mode: 'sink', bytes, sha256 });
      s.end(`${bytes} ${sha256}\n`);
    });
  }

  private echo(s: net.Socket, first: Buffer): void {
    const h = createHash('sha256');
    let bytes = 0;
    const take = (b: Buffer): void => {
      h.update(b);
      bytes += b.length;
      if (!s.write(b)) s.pause();
    };
    s.on('drain', () => s.resume());
    take(first);
    s.on('data', take);
    s.on('end', () => {
      this.record({ mode: 'echo', bytes, sha256: h.digest('hex') });
      s.end();
    });
  }

  private source(s: net.Socket, total: number): void {
    const h = createHash('sha256');
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        const n = Math.min(this.opts.fast ? this.block.length : 256 * 1024, total - sent);
        const b = this.opts.fast ? this.block.subarray(0, n) : randomBytes(n);
        if (!this.opts.fast) h.update(b);
        sent += n;
        if (!s.write(b)) {
          s.once('drain', pump);
          return;
        }
      }
      this.record({ mode: 'source', bytes: sent, sha256: h.digest('hex') });
      s.end();
    };
    pump();
    // The client may half-close after its request line; keep sending regardless.
    s.resume();
  }
}

export async function startStreamServer(socketPath: string, opts: { fast?: boolean } = {}): Promise<StreamServer> {
  const s = new StreamServer(socketPath, opts);
  await s.listen();
  return s;
}

/** Answers like dockerd's socket: GET /_ping -> 200 "OK"; POST /echo returns the body. */
export async function startPingServer(socketPath: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/_ping') {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Api-Version': '1.45' });
      res.end('OK');
      return;
    }
    if (req.method === 'POST' && req.url === '/echo') {
      req.pipe(res);
      return;
    }
    res.writeHead(404);
    res.end('not found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return server;
}
