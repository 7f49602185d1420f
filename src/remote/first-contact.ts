import ssh2 from 'ssh2';
import { ExitCode, SkiffError } from '../errors.js';
import { fingerprint } from '../ssh/keys.js';
import { keyType } from '../ssh/connect.js';
import { remoteConnectError } from '../ssh/remote-errors.js';
import type { HostAddress } from './host.js';

const { Client } = ssh2;

/** The host key types skiff can pin, in the order it asks for them. */
const OFFERABLE = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256'];

export interface OfferedKey {
  blob: Buffer;
  type: string;
  fingerprint: string;
  /** As a line of a .pub file, which is what the machine pins. */
  line: string;
}

/**
 * The host key a host offers, read from the key exchange alone: the connection is
 * dropped before any authentication is sent, so nothing of the user's goes to a
 * host they have not accepted yet.
 */
export function offeredHostKey(a: HostAddress, timeoutMs = 15_000): Promise<OfferedKey> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let offered: Buffer | undefined;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      client.on('error', () => {});
      client.end();
      if (offered) {
        const type = keyType(offered);
        resolve({ blob: offered, type, fingerprint: fingerprint(offered), line: `${type} ${offered.toString('base64')}\n` });
      } else {
        reject(remoteConnectError({ ...a }, err ?? new Error('the connection closed before the key exchange')));
      }
    };
    client.on('error', (e) => finish(e));
    client.on('close', () => finish());
    client.connect({
      host: a.host,
      port: a.port,
      username: a.user,
      readyTimeout: timeoutMs,
      algorithms: { serverHostKey: OFFERABLE as never },
      hostVerifier: (key: Buffer) => {
        offered = Buffer.from(key);
        // Refused: the key is the user's to accept first.
        setImmediate(() => finish());
        return false;
      },
    });
  });
}

/** Where the host keeps the public half of a key of this type, for `ssh-keygen -lf` there. */
export function hostKeyFile(type: string): string {
  const name = type === 'ssh-ed25519' ? 'ed25519' : type.startsWith('ecdsa-') ? 'ecdsa' : type === 'ssh-rsa' ? 'rsa' : '*';
  return `/etc/ssh/ssh_host_${name}_key.pub`;
}

/** "SHA256:abc" or "abc" as users paste it; a colon-hex MD5 fingerprint is refused as ambiguous. */
export function normaliseFingerprint(given: string): string {
  const t = given.trim();
  if (/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(t)) return t.replace(/=$/, '');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(t)) return `SHA256:${t.replace(/=$/, '')}`;
  throw new SkiffError('invalid-host-key', `--host-key "${given}" is not a SHA256 fingerprint`, {
    hint: 'give it as ssh-keygen prints it on the host: `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` says SHA256:...',
    exitCode: ExitCode.usage,
  });
}

/** The key offered is the one the user named, or an error that names both. */
export function checkFingerprint(offered: OfferedKey, expected: string, where: string): void {
  if (offered.fingerprint === expected) return;
  throw new SkiffError('host-key-mismatch', `${where} offers host key ${offered.fingerprint} (${offered.type}), not ${expected} as --host-key says; refusing to connect`, {
    hint: 'check the fingerprints on the host itself (`for k in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf $k; done`); if none matches, something may be in the middle',
    exitCode: ExitCode.conflict,
  });
}

