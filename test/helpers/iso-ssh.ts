import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { waitUntil } from '../../src/util/wait.js';

export interface SshResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** OpenSSH client options that pin the guest's host key (no TOFU, no prompts). */
export function sshOptions(knownHosts: string, port: number): string[] {
  return [
    '-p', String(port),
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=20',
    '-o', 'LogLevel=ERROR',
    '-F', '/dev/null',
  ];
}

/** Runs `ssh OPTIONS root@127.0.0.1 COMMAND`. */
export function ssh(opts: string[], command: string, timeoutMs = 120_000): Promise<SshResult> {
  return new Promise((resolve) => {
    execFile('ssh', [...opts, 'root@127.0.0.1', command], { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 255) : 0;
      resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
    });
  });
}

/** `ssh -N -L localSocket:remoteSocket`: OpenSSH's streamlocal forward of the docker socket. */
export async function forwardSocket(opts: string[], localSocket: string, remoteSocket: string): Promise<ChildProcess> {
  // A socket file left by an earlier forward would look ready before this one binds.
  rmSync(localSocket, { force: true });
  const proc = spawn('ssh', [...opts, '-N', '-o', 'ExitOnForwardFailure=yes', '-o', 'StreamLocalBindUnlink=yes',
    '-L', `${localSocket}:${remoteSocket}`, 'root@127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const ok = await waitUntil(() => existsSync(localSocket) || proc.exitCode !== null, { timeoutMs: 30_000 });
  if (!ok || proc.exitCode !== null) {
    proc.kill();
    throw new Error(`ssh -L did not forward ${remoteSocket}: ${stderr}`);
  }
  return proc;
}
