import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ExitCode, SkiffError } from '../errors.js';

/*
 * The shapes a remote host's fields may take. The host and user reach ssh2 only
 * (no shell), but a hand-edited config must still not slip in a space or an
 * option: each is held to what DNS names, IP literals and POSIX user names allow.
 */
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|[0-9A-Fa-f:.]+(?:%[\w.-]+)?)$/;
const USER_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;

const absolutePath = z.string().refine((p) => path.posix.isAbsolute(p) && !/[\0\n]/.test(p), 'must be an absolute path');

export const RemoteHostSchema = z.object({
  host: z.string().regex(HOST_RE, 'must be a host name or an IP address'),
  port: z.number().int().min(1).max(65535),
  user: z.string().regex(USER_RE, 'must be a user name'),
  /** The private key to log in with; absent: the user's SSH agent. */
  identity: absolutePath.optional(),
  /** The engine's socket on the host, found (or given) at init. */
  engineSocket: absolutePath,
});
export type RemoteHost = z.infer<typeof RemoteHostSchema>;

/** Where to log in: what `--host USER@HOST[:PORT]` names. */
export interface HostAddress {
  user: string;
  host: string;
  port: number;
}

/**
 * Parses `[USER@]HOST[:PORT]`, an IPv6 literal in brackets (`pi@[fe80::1]:2222`).
 * Without a user it is the local one, as with ssh.
 */
export function parseHostAddress(spec: string, localUser: () => string = () => os.userInfo().username): HostAddress {
  const bad = (why: string) =>
    new SkiffError('invalid-host', `--host "${spec}" ${why}`, {
      hint: 'give USER@HOST or USER@HOST:PORT, e.g. --host pi@raspberrypi.local or --host admin@[2001:db8::5]:2222',
      exitCode: ExitCode.usage,
    });
  const at = spec.lastIndexOf('@');
  const user = at >= 0 ? spec.slice(0, at) : localUser();
  const rest = at >= 0 ? spec.slice(at + 1) : spec;
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(rest);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else if ((rest.match(/:/g) ?? []).length > 1) {
    host = rest; // a bare IPv6 literal: no port can follow it unbracketed
  } else {
    const colon = rest.indexOf(':');
    host = colon >= 0 ? rest.slice(0, colon) : rest;
    portText = colon >= 0 ? rest.slice(colon + 1) : undefined;
  }
  if (!USER_RE.test(user)) throw bad(`has no valid user name ("${user}")`);
  if (!host || !HOST_RE.test(host)) throw bad(`has no valid host name or address ("${host}")`);
  let port = 22;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) throw bad(`has no valid port ("${portText}")`);
  }
  return { user, host, port };
}

/** `user@host:port` as users write it (brackets around an IPv6 literal). */
export function formatHostAddress(a: HostAddress): string {
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${a.user}@${host}${a.port === 22 ? '' : `:${a.port}`}`;
}

/** What skiff does not do to a host it only connects to (`what`: a verb, "suspend"). */
export function notAVm(name: string, r: Pick<RemoteHost, 'user' | 'host' | 'port'>, what: string): SkiffError {
  return new SkiffError('remote-host', `machine "${name}" is a remote host (${r.user}@${r.host}:${r.port}): skiff does not ${what} it`, {
    hint: 'skiff connects to a remote host (`skiff start`) and disconnects (`skiff stop`); the host itself is yours to manage',
    exitCode: ExitCode.conflict,
  });
}
