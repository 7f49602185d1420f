import { ExitCode, SkiffError, errorMessage } from '../errors.js';

/** Who logged in where, and with what (an SshTarget's fields, named here so connect.ts can use this file). */
interface Login {
  user: string;
  host: string;
  port: number;
  privateKey?: Buffer;
  agent?: string;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EHOSTDOWN']);

/** `user@host:port` for messages. */
export function remoteWhere(t: Pick<Login, 'user' | 'host' | 'port'>): string {
  return `${t.user}@${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
}

/**
 * Why a login to a remote host failed, said so the user knows which of their
 * own things to check: the address, sshd, or the user and its keys.
 */
export function remoteConnectError(target: Login, e: Error): SkiffError {
  const where = remoteWhere(target);
  const code = (e as NodeJS.ErrnoException).code;
  const msg = errorMessage(e);
  if (/authentication methods failed/i.test(msg)) {
    const offered = [target.privateKey ? 'the identity file' : '', target.agent ? 'the keys of your SSH agent' : ''].filter(Boolean).join(' and ') || 'no key';
    return new SkiffError('ssh-auth-failed', `${where} refused the login: it accepted none of ${offered}`, {
      hint: `check the user name, and that your public key is in ~${target.user}/.ssh/authorized_keys there (\`ssh-copy-id -p ${target.port} ${target.user}@${target.host}\`); skiff never sends a password`,
      exitCode: ExitCode.network,
      cause: e,
    });
  }
  if ((code && UNREACHABLE.has(code)) || /timed out while waiting for handshake/i.test(msg)) {
    return new SkiffError('host-unreachable', `cannot reach ${where} over SSH: ${code ?? msg}`, {
      hint: `check the host name and port, that the host is on, and that \`ssh -p ${target.port} ${target.user}@${target.host}\` works from here`,
      exitCode: ExitCode.network,
      cause: e,
    });
  }
  return new SkiffError('ssh-connect-failed', `cannot log in to ${where} over SSH: ${msg}`, {
    hint: `check that \`ssh -p ${target.port} ${target.user}@${target.host}\` works from here`,
    exitCode: ExitCode.network,
    cause: e,
  });
}
