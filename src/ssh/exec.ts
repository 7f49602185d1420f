import os from 'node:os';
import { Readable, Writable } from 'node:stream';
import type { Client, ClientChannel, ExecOptions } from 'ssh2';
import { ExitCode, SkiffError, errorMessage } from '../errors.js';

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  /** The remote exit status; a signal death is mapped to 128 + signal number, like a shell does. */
  code: number;
  signal: string | undefined;
}

export interface ExecIo {
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
}

/** Opens an exec channel; the command string is run by the remote user's shell. */
export function openExec(client: Client, command: string, opts: ExecOptions = {}): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    client.exec(command, opts, (err, channel) => {
      if (err) return reject(execError(command, err));
      // Now, not once the caller's await resumes: see watchEnd.
      watchEnd(channel);
      resolve(channel);
    });
  });
}

function execError(command: string, e: Error): SkiffError {
  return new SkiffError('ssh-exec-failed', `cannot run ${JSON.stringify(command)} in the guest: ${errorMessage(e)}`, {
    hint: 'check that the machine is running (`skiff status`)',
    exitCode: ExitCode.network,
    cause: e,
  });
}

/** A channel's exit status and end, as they came. */
interface ChannelEnd {
  code?: number;
  signal?: string;
  /** Set once the channel closed or failed; then no more comes. */
  over?: { error?: Error };
  notify: Array<() => void>;
}

const ends = new WeakMap<ClientChannel, ChannelEnd>();

/**
 * Records a channel's exit status and close from the moment it is called. A
 * short command's status, EOF and close can arrive in the same read as the exec
 * request's confirmation: ssh2 emits them all synchronously, before a caller
 * awaiting openExec could attach a listener, and the status would be lost.
 */
function watchEnd(channel: ClientChannel): ChannelEnd {
  const known = ends.get(channel);
  if (known) return known;
  const end: ChannelEnd = { notify: [] };
  ends.set(channel, end);
  const finish = (over: { error?: Error }) => {
    if (end.over) return;
    end.over = over;
    for (const f of end.notify.splice(0)) f();
  };
  channel.on('exit', (c: number | null, s?: string) => {
    if (typeof c === 'number') end.code = c;
    if (typeof s === 'string') {
      // ssh2 reports "SIGTERM"; the wire name is "TERM".
      end.signal = s.replace(/^SIG/, '');
      end.code = 128 + (os.constants.signals[`SIG${end.signal}` as keyof typeof os.constants.signals] ?? 127);
    }
  });
  channel.once('error', (e: Error) => finish({ error: e }));
  channel.once('close', () => finish({}));
  return end;
}

/**
 * Waits for a channel to finish and returns its exit status. The status arrives
 * before 'close'; a channel that closes without one (connection lost) is an error.
 */
export function channelExit(channel: ClientChannel, command: string): Promise<{ code: number; signal: string | undefined }> {
  const end = watchEnd(channel);
  return new Promise((resolve, reject) => {
    const settle = () => {
      const { code, signal, over } = end;
      if (over?.error) reject(execError(command, over.error));
      else if (code === undefined) reject(execError(command, new Error('the connection closed before the command exited')));
      else resolve({ code, signal });
    };
    if (end.over) settle();
    else end.notify.push(settle);
  });
}

/**
 * Runs a command with its output streamed into `io` (with backpressure: a slow
 * stdout pauses the channel, which stops the window adjusts to the guest).
 * The caller's stdout/stderr are not ended; stdin's end becomes channel EOF.
 */
export async function execStream(
  client: Client,
  command: string,
  io: ExecIo,
  opts: ExecOptions = {},
): Promise<{ code: number; signal: string | undefined }> {
  const channel = await openExec(client, command, opts);
  const done = channelExit(channel, command);
  channel.pipe(io.stdout, { end: false });
  channel.stderr.pipe(io.stderr, { end: false });
  if (io.stdin) io.stdin.pipe(channel);
  else channel.end();
  try {
    const result = await done;
    await Promise.all([flushed(channel), flushed(channel.stderr)]);
    return result;
  } finally {
    if (io.stdin) {
      io.stdin.unpipe(channel);
      // A TTY stdin left flowing would keep the process alive after the command is gone.
      io.stdin.pause();
    }
    channel.unpipe(io.stdout);
    channel.stderr.unpipe(io.stderr);
  }
}

/** Resolves once a readable has delivered everything (it may end just after 'close'). */
function flushed(r: Readable): Promise<void> {
  if (r.readableEnded || r.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    r.once('end', () => resolve());
    r.once('close', () => resolve());
  });
}

/** Runs a command to completion and collects its output. */
export async function execCollect(
  client: Client,
  command: string,
  opts: { stdin?: string | Buffer } = {},
): Promise<ExecResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (into: Buffer[]): Writable =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        into.push(chunk);
        cb();
      },
    });
  const stdin = opts.stdin === undefined ? undefined : Readable.from([Buffer.from(opts.stdin)]);
  const { code, signal } = await execStream(client, command, { stdin, stdout: sink(out), stderr: sink(err) });
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), code, signal };
}
