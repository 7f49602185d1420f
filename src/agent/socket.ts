import net from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, SkiffError } from '../errors.js';
import { checkRuntimeParents } from '../layout/runtime-dir.js';

/** True when something accepts connections on the unix socket `file`. */
export function socketAnswers(file: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(file);
    const done = (ok: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * Makes `file` ready to listen on: its directory exists with mode 0700, and a
 * socket file left by a crashed agent is removed, but only after dialling it
 * shows nobody serves it any more.
 */
export async function prepareSocketPath(file: string): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  // A parent made by another user in a shared /tmp could let them swap our socket.
  await checkRuntimeParents(dir);
  let st;
  try {
    st = await lstat(file);
  } catch {
    return;
  }
  if (!st.isSocket()) {
    throw new SkiffError('socket-path-taken', `${file} exists and is not a socket`, {
      hint: 'move that file away; skiff only removes stale sockets it can recognise',
      exitCode: ExitCode.conflict,
    });
  }
  if (await socketAnswers(file)) {
    throw new SkiffError('socket-in-use', `another process already serves ${file}`, {
      hint: 'stop the other agent first (`skiff stop`)',
      exitCode: ExitCode.conflict,
    });
  }
  await unlink(file);
}

export async function listenUnix(server: net.Server, file: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  // The 0700 directory already keeps others out; the mode is the second lock.
  await chmod(file, 0o600);
}
