import type { Readable, Writable } from 'node:stream';
import type { ReadStream, WriteStream } from 'node:tty';
import type { Client, ClientChannel, ExecOptions, PseudoTtyOptions } from 'ssh2';
import { ExitCode, SkiffError, errorMessage } from '../errors.js';
import { channelExit, execStream } from './exec.js';

export interface ShellIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

function isTtyIn(s: Readable): s is ReadStream {
  return (s as Partial<ReadStream>).isTTY === true && typeof (s as Partial<ReadStream>).setRawMode === 'function';
}

function isTtyOut(s: Writable): s is WriteStream {
  return (s as Partial<WriteStream>).isTTY === true;
}

function ptyFor(out: Writable): PseudoTtyOptions {
  const size = isTtyOut(out) ? { rows: out.rows, cols: out.columns } : { rows: 24, cols: 80 };
  return { ...size, width: 0, height: 0, term: process.env.TERM || 'xterm-256color' };
}

/**
 * `skiff ssh [-- CMD]`: an interactive login shell, or CMD. A PTY is requested only
 * when stdin is a terminal (so `skiff ssh -- cat < file` stays binary-clean).
 * Returns the remote exit code; the local terminal is restored whatever happens.
 */
export async function runSsh(client: Client, command: string | undefined, io: ShellIo): Promise<number> {
  const tty = isTtyIn(io.stdin) ? io.stdin : undefined;
  if (!tty) {
    if (command === undefined) {
      // A shell without a terminal reads commands from stdin: same as `ssh host < script`.
      return (await execStream(client, 'exec "${SHELL:-/bin/sh}" -s', io)).code;
    }
    return (await execStream(client, command, io)).code;
  }

  const pty = ptyFor(io.stdout);
  const channel = await new Promise<ClientChannel>((resolve, reject) => {
    const cb = (err: Error | undefined, ch: ClientChannel): void => {
      if (err) {
        reject(
          new SkiffError('ssh-shell-failed', `cannot open a shell in the guest: ${errorMessage(err)}`, {
            hint: 'check that the machine is running (`skiff status`)',
            exitCode: ExitCode.network,
            cause: err,
          }),
        );
      } else resolve(ch);
    };
    if (command === undefined) client.shell(pty, cb);
    else client.exec(command, { pty } satisfies ExecOptions, cb);
  });

  const onResize = (): void => {
    const p = ptyFor(io.stdout);
    channel.setWindow(p.rows ?? 24, p.cols ?? 80, 0, 0);
  };
  const wasRaw = tty.isRaw;
  tty.setRawMode(true);
  // 'resize' on a TTY stdout is Node's SIGWINCH.
  if (isTtyOut(io.stdout)) io.stdout.on('resize', onResize);
  const done = channelExit(channel, command ?? 'shell');
  try {
    channel.pipe(io.stdout, { end: false });
    channel.stderr.pipe(io.stderr, { end: false });
    tty.pipe(channel);
    tty.resume();
    return (await done).code;
  } finally {
    tty.unpipe(channel);
    tty.pause();
    tty.setRawMode(wasRaw);
    if (isTtyOut(io.stdout)) io.stdout.removeListener('resize', onResize);
    channel.unpipe(io.stdout);
    channel.stderr.unpipe(io.stderr);
  }
}
