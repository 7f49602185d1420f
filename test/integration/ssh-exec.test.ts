import { EventEmitter } from 'node:events';
import { PassThrough, Readable, Writable } from 'node:stream';
import type { Client } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSsh, loadSshTarget, type SshConnection } from '../../src/ssh/connect.js';
import { channelExit, execCollect, execStream, openExec } from '../../src/ssh/exec.js';
import { runSsh } from '../../src/ssh/shell.js';
import { connectWhenUp } from '../helpers/ssh-connect.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';

let sshd: TestSshd;
let conn: SshConnection;

beforeAll(async () => {
  sshd = await startSshd();
  conn = await connectWhenUp({ host: sshd.host, port: sshd.port, user: sshd.user }, sshd.keyPath, sshd.hostPubPath, 10_000);
});

afterAll(async () => {
  conn?.client.end();
  await sshd?.stop();
});

function collector(): { stream: Writable; text: () => string } {
  const parts: Buffer[] = [];
  const stream = new Writable({
    write(c: Buffer, _e, cb) {
      parts.push(c);
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(parts).toString() };
}

describe('ssh exec against a real sshd', () => {
  it('collects stdout, stderr and the exit code', async () => {
    const r = await execCollect(conn.client, 'echo out; echo err >&2; exit 7');
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr.toString()).toBe('err\n');
    expect(r.code).toBe(7);
  });

  it('keeps the exit status of a command whose status and close came in the same read as the exec confirmation', async () => {
    // ssh2 parses a whole read at once, emitting the channel's events synchronously,
    // before a caller awaiting openExec can attach a listener: this client does the same.
    const channel = Object.assign(new EventEmitter(), { stderr: new PassThrough() });
    const client = {
      exec(_cmd: string, _opts: object, cb: (err: Error | undefined, ch: typeof channel) => void) {
        cb(undefined, channel);
        channel.emit('exit', 3);
        channel.emit('close');
      },
    } as unknown as Client;
    const opened = await openExec(client, 'true');
    expect(await channelExit(opened as never, 'true')).toEqual({ code: 3, signal: undefined });
  });

  it('gets the exit code of each of many quick commands run at once on one connection', async () => {
    const codes = await Promise.all(Array.from({ length: 40 }, (_, i) => execCollect(conn.client, `exit ${i % 7}`).then((r) => r.code)));
    expect(codes).toEqual(Array.from({ length: 40 }, (_, i) => i % 7));
  });

  it('passes stdin through and its end as EOF', async () => {
    const r = await execCollect(conn.client, 'wc -c', { stdin: Buffer.alloc(100_000, 7) });
    expect(r.stdout.toString().trim()).toBe('100000');
    expect(r.code).toBe(0);
  });

  it('maps a signal death to 128 + signal number', async () => {
    const r = await execCollect(conn.client, 'kill -TERM $$');
    expect(r.code).toBe(143);
    expect(r.signal).toBe('TERM');
  });

  it('streams a large output with backpressure, byte-exact', async () => {
    const out = collector();
    const err = collector();
    const res = await execStream(conn.client, 'head -c 3000000 /dev/zero | tr "\\0" x', { stdout: out.stream, stderr: err.stream });
    expect(res.code).toBe(0);
    expect(out.text().length).toBe(3_000_000);
    expect(out.text().replace(/x/g, '')).toBe('');
  });

  it('skiff ssh -- CMD without a TTY: no PTY, piped stdin, the remote exit code', async () => {
    const out = collector();
    const err = collector();
    const stdin = Readable.from([Buffer.from('hello\n')]);
    const code = await runSsh(conn.client, 'cat; test -t 0 && echo tty >&2; exit 3', { stdin, stdout: out.stream, stderr: err.stream });
    expect(code).toBe(3);
    expect(out.text()).toBe('hello\n');
    expect(err.text()).toBe('');
  });

  it('skiff ssh without a command and without a TTY runs stdin as a script', async () => {
    const out = collector();
    const stdin = new PassThrough();
    stdin.end('echo from-script\nexit 5\n');
    const code = await runSsh(conn.client, undefined, { stdin, stdout: out.stream, stderr: collector().stream });
    expect(code).toBe(5);
    expect(out.text()).toBe('from-script\n');
  });
});

describe('connecting', () => {
  it('refuses a host whose key differs from the pinned one, naming both fingerprints', async () => {
    const target = await loadSshTarget({ host: sshd.host, port: sshd.port, user: sshd.user, keyPath: sshd.keyPath, hostPubPath: sshd.otherHostPubPath });
    const err = await connectSsh(target).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'host-key-changed' });
    expect(String((err as Error).message)).toMatch(/host key changed: expected SHA256:\S+, got SHA256:\S+/);
  });
});

describe('skiff ssh with a terminal', () => {
  /** Stand-ins carrying the tty.ReadStream / tty.WriteStream surface runSsh uses. */
  function fakeTerminal(rows: number, cols: number) {
    const rawCalls: boolean[] = [];
    const stdin = Object.assign(new PassThrough(), {
      isTTY: true,
      isRaw: false,
      setRawMode(mode: boolean) {
        rawCalls.push(mode);
        stdin.isRaw = mode;
        return stdin;
      },
    });
    const out = collector();
    const stdout = Object.assign(out.stream, { isTTY: true, rows, columns: cols });
    return { stdin, stdout, text: out.text, rawCalls };
  }

  it('requests a PTY of the terminal size, goes raw, forwards a resize, and restores the mode', async () => {
    const t = fakeTerminal(30, 90);
    const run = runSsh(conn.client, 'stty size; test -t 0 && echo tty; sleep 1; stty size; exit 4', {
      stdin: t.stdin as never,
      stdout: t.stdout,
      stderr: collector().stream,
    });
    // Resize only once the first size has been printed (the command then sleeps a second).
    while (!/tty/.test(t.text())) await new Promise((r) => setTimeout(r, 20));
    t.stdout.rows = 40;
    t.stdout.columns = 100;
    t.stdout.emit('resize');
    const code = await run;
    expect(code).toBe(4);
    expect(t.text().split(/\r?\n/).filter(Boolean)).toEqual(['30 90', 'tty', '40 100']);
    expect(t.rawCalls).toEqual([true, false]);
    expect(t.stdin.isRaw).toBe(false);
  });
});
