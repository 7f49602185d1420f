import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { ExitCode, SkiffError } from '../errors.js';
import type { MachinePaths } from '../layout/paths.js';
import { loadSshTarget, type SshTarget } from '../ssh/connect.js';
import type { RemoteHost } from './host.js';

/** What a login to a remote host offers: an identity file, or the user's SSH agent. */
export interface RemoteAuth {
  identity?: string;
  agent?: string;
}

/** The keys ssh itself would try, in its order, when neither an identity nor an agent is given. */
const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/**
 * A private key skiff can use unattended: readable, and not locked by a passphrase
 * (skiff never asks for or stores one; the SSH agent is the place for such a key).
 */
export async function checkIdentity(file: string): Promise<void> {
  let text: Buffer;
  try {
    text = await readFile(file);
  } catch (e) {
    throw new SkiffError('identity-unreadable', `cannot read the identity file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, {
      hint: 'give the path of a private key (e.g. ~/.ssh/id_ed25519) with --identity',
      exitCode: ExitCode.usage,
    });
  }
  const parsed = ssh2.utils.parseKey(text);
  if (parsed instanceof Error) {
    const locked = /passphrase|encrypted/i.test(parsed.message);
    throw new SkiffError('identity-unusable', `${file} ${locked ? 'is locked by a passphrase' : `is not a private key skiff can use (${parsed.message})`}`, {
      hint: locked ? `add it to your SSH agent (\`ssh-add ${file}\`) and leave out --identity: skiff never stores a passphrase` : 'give an OpenSSH or PEM private key with --identity',
      exitCode: ExitCode.usage,
    });
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key?.isPrivateKey()) {
    throw new SkiffError('identity-unusable', `${file} is a public key, not a private one`, {
      hint: `give its private half with --identity (${file.replace(/\.pub$/, '')}, most likely)`,
      exitCode: ExitCode.usage,
    });
  }
}

/**
 * How `init` logs in: the identity given; else the SSH agent, if one runs; else
 * the first of the user's default keys that needs no passphrase, which is then
 * remembered as the identity.
 */
export async function chooseAuth(identity: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<RemoteAuth> {
  if (identity !== undefined) {
    const file = path.resolve(identity);
    await checkIdentity(file);
    return { identity: file };
  }
  if (env.SSH_AUTH_SOCK) return { agent: env.SSH_AUTH_SOCK };
  for (const name of DEFAULT_IDENTITIES) {
    const file = path.join(os.homedir(), '.ssh', name);
    try {
      await checkIdentity(file);
      return { identity: file };
    } catch {
      // Absent or locked: the next.
    }
  }
  throw new SkiffError('no-ssh-key', 'no SSH key to log in with: no SSH agent runs (SSH_AUTH_SOCK is not set) and ~/.ssh has no usable id_ed25519, id_ecdsa or id_rsa', {
    hint: 'start an agent and add your key (`eval "$(ssh-agent)"; ssh-add`), or give a key with --identity FILE',
    exitCode: ExitCode.usage,
  });
}

/**
 * The login of a remote machine as it is now: its identity file, or the SSH agent
 * of the shell that asks (an agent's socket changes with each login session).
 */
export function remoteAuth(remote: RemoteHost, machine: string, env: NodeJS.ProcessEnv = process.env): RemoteAuth {
  if (remote.identity) return { identity: remote.identity };
  if (env.SSH_AUTH_SOCK) return { agent: env.SSH_AUTH_SOCK };
  throw new SkiffError('no-ssh-agent', `machine "${machine}" logs in with your SSH agent, but none runs in this shell (SSH_AUTH_SOCK is not set)`, {
    hint: 'start one and add your key (`eval "$(ssh-agent)"; ssh-add`), then try again',
    exitCode: ExitCode.environment,
  });
}

/** Everything connectSsh needs for a remote machine, its host key the one pinned at init. */
export function remoteSshTarget(paths: MachinePaths, remote: RemoteHost, env: NodeJS.ProcessEnv = process.env): Promise<SshTarget> {
  const auth = remoteAuth(remote, paths.name, env);
  return loadSshTarget({
    host: remote.host,
    port: remote.port,
    user: remote.user,
    ...(auth.identity ? { keyPath: auth.identity } : {}),
    ...(auth.agent ? { agent: auth.agent } : {}),
    hostPubPath: paths.hostPub,
    remote: true,
  });
}
