import type { Duplex } from 'node:stream';
import { openStreamLocal } from '../agent/forward.js';
import { ExitCode, SkiffError, errorMessage } from '../errors.js';
import type { SshConnection } from '../ssh/connect.js';
import { execCollect } from '../ssh/exec.js';

/** What a look around a remote host found: its engine sockets, its architecture and who we are there. */
export interface HostSurvey {
  /** Existing engine sockets, rootless first, each with whether the user may use it. */
  sockets: Array<{ path: string; usable: boolean }>;
  arch: string;
  user: string;
  groups: string[];
}

/*
 * Run by the login user's shell through `sh -c`, so a fish or csh login shell
 * changes nothing. A rootless engine's socket is the user's own, under
 * XDG_RUNTIME_DIR (set by pam_systemd; /run/user/UID without it); a rootful one
 * is /var/run/docker.sock. Each is reported only if it exists, with access.
 */
function surveyScript(candidates: string[] | undefined): string {
  const list = candidates ? candidates.map((c) => `"${c}"`).join(' ') : '"${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/docker.sock" /var/run/docker.sock';
  return [
    `for s in ${list}; do`,
    '  if [ -S "$s" ]; then if [ -r "$s" ] && [ -w "$s" ]; then echo "socket ok $s"; else echo "socket denied $s"; fi',
    '  elif [ -e "$s" ]; then echo "socket notasocket $s"; fi',
    'done',
    'echo "arch $(uname -m)"',
    'echo "user $(id -un)"',
    'echo "groups $(id -Gn)"',
  ].join('\n');
}

export function parseSurvey(text: string): HostSurvey & { notSockets: string[] } {
  const s: HostSurvey & { notSockets: string[] } = { sockets: [], arch: '', user: '', groups: [], notSockets: [] };
  for (const line of text.split('\n')) {
    const m = /^(socket (ok|denied|notasocket)|arch|user|groups) ?(.*)$/.exec(line.trim());
    if (!m) continue;
    const value = m[3] ?? '';
    if (m[2] === 'notasocket') s.notSockets.push(value);
    else if (m[2]) s.sockets.push({ path: value, usable: m[2] === 'ok' });
    else if (m[1] === 'arch') s.arch = value;
    else if (m[1] === 'user') s.user = value;
    else if (m[1] === 'groups') s.groups = value.split(/\s+/).filter(Boolean);
  }
  return s;
}

/** Quoting for a path inside the survey's double quotes: no expansion may happen in it. */
function quotable(p: string): boolean {
  return /^\/[\w@%+=:,./-]*$/.test(p);
}

/** Looks at the host through an open login: which engine socket to use, its architecture. */
export async function surveyHost(conn: SshConnection, given?: string): Promise<HostSurvey & { notSockets: string[] }> {
  if (given !== undefined && !quotable(given)) {
    throw new SkiffError('invalid-engine-socket', `--engine-socket "${given}" is not a plain absolute path`, {
      hint: 'give the path of the engine socket on the host, e.g. /var/run/docker.sock',
      exitCode: ExitCode.usage,
    });
  }
  const script = surveyScript(given === undefined ? undefined : [given]);
  const r = await execCollect(conn.client, `sh -c '${script}'`);
  if (r.code !== 0) {
    throw new SkiffError('survey-failed', `looking around the host failed (exit ${r.code}): ${r.stderr.toString().trim().split('\n')[0] ?? ''}`, {
      hint: 'the host needs a POSIX sh, id and uname (any Linux has them)',
      exitCode: ExitCode.environment,
    });
  }
  return parseSurvey(r.stdout.toString());
}

/**
 * The socket to serve: the first usable one (rootless before rootful), else an
 * error that says why none is: none exists, or the user may not use one.
 */
export function chooseEngineSocket(s: HostSurvey & { notSockets: string[] }, where: string, given?: string): string {
  const usable = s.sockets.find((k) => k.usable);
  if (usable) return usable.path;
  const denied = s.sockets[0];
  if (denied) {
    const inGroup = s.groups.includes('docker');
    throw new SkiffError('engine-socket-denied', `${s.user || 'the user'} on ${where} may not use the Docker engine socket ${denied.path} (permission denied)`, {
      hint: inGroup
        ? `${s.user} is in the docker group but this login is not yet: log out of every session there (or reboot it), then try again`
        : `add the user to the docker group there (\`sudo usermod -aG docker ${s.user || 'USER'}\`, then log in anew), or set up rootless Docker for it (\`dockerd-rootless-setuptool.sh install\`)`,
      exitCode: ExitCode.environment,
    });
  }
  if (given !== undefined) {
    const what = s.notSockets.includes(given) ? 'is not a socket' : 'does not exist';
    throw new SkiffError('no-engine', `${given} on ${where} ${what}`, {
      hint: 'give the path of the engine socket there (`docker context inspect` on the host shows it), or leave out --engine-socket',
      exitCode: ExitCode.notFound,
    });
  }
  throw new SkiffError('no-engine', `no Docker engine on ${where}: neither a rootless socket ($XDG_RUNTIME_DIR/docker.sock) nor /var/run/docker.sock exists`, {
    hint: 'install the Docker engine there (https://docs.docker.com/engine/install/) and start it, or give its socket with --engine-socket PATH',
    exitCode: ExitCode.notFound,
  });
}

/** The engine's GET /version through the login, just as the agent will reach it. */
export async function engineVersionOver(conn: SshConnection, socket: string, where: string, timeoutMs = 15_000): Promise<{ version: string; apiVersion: string; os: string; arch: string }> {
  const fail = (why: string) =>
    new SkiffError('engine-unanswered', `the Docker engine socket ${socket} on ${where} does not answer: ${why}`, {
      hint: 'check that the engine runs there (`sudo systemctl status docker`, or `systemctl --user status docker` for rootless); sshd must allow it (AllowStreamLocalForwarding yes, the default)',
      exitCode: ExitCode.environment,
    });
  let channel: Duplex;
  try {
    channel = await openStreamLocal(conn, socket);
  } catch (e) {
    throw fail(errorMessage(e));
  }
  // HTTP/1.0 by hand: the engine then answers unchunked and closes, and a channel is
  // not the socket Node's http wants. Not half-closed: dockerd cancels a request whose client sent EOF.
  const answer = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(fail(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    channel.on('data', (d: Buffer) => chunks.push(d));
    channel.once('error', (e: Error) => {
      clearTimeout(timer);
      reject(fail(errorMessage(e)));
    });
    // The engine's EOF ends the answer; the channel closes only once both sides have.
    const done = () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    channel.once('end', done);
    channel.once('close', done);
    channel.write('GET /version HTTP/1.0\r\nHost: docker\r\n\r\n');
  }).finally(() => channel.destroy());
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
  const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
  if (status === undefined) throw fail(`its answer is not HTTP (${JSON.stringify(answer.slice(0, 40))}): is it a Docker engine?`);
  if (status !== '200') throw fail(`HTTP ${status}: ${body.trim().slice(0, 200)}`);
  let v: { Version?: string; ApiVersion?: string; Os?: string; Arch?: string };
  try {
    v = JSON.parse(body) as typeof v;
  } catch {
    throw fail('its answer to GET /version is not JSON: is it a Docker engine?');
  }
  if (!v.Version || !v.ApiVersion) throw fail('its answer to GET /version has no version: is it a Docker engine?');
  return { version: v.Version, apiVersion: v.ApiVersion, os: v.Os ?? '', arch: v.Arch ?? '' };
}
