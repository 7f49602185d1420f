import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';

export interface KeyPair {
  /** OpenSSH private key format. */
  private: string;
  /** authorized_keys line: "ssh-ed25519 AAAA... comment". */
  public: string;
}

export function generateEd25519(comment: string): KeyPair {
  // ssh2 1.17 drops a leading zero byte of the public point (about 1 key in 256),
  // writing a pair that neither ssh2 nor OpenSSH can read: draw again.
  for (;;) {
    const k = ssh2.utils.generateKeyPairSync('ed25519', { comment });
    if (!(ssh2.utils.parseKey(k.private) instanceof Error) && !(ssh2.utils.parseKey(k.public) instanceof Error)) {
      return { private: k.private, public: k.public.trim() + '\n' };
    }
  }
}

/** The raw SSH wire blob of a public key (what ssh2's hostVerifier is handed). */
export function publicKeyBlob(publicKeyLine: string): Buffer {
  const parsed = ssh2.utils.parseKey(publicKeyLine);
  if (parsed instanceof Error) throw parsed;
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key) throw new Error('no key in public key text');
  return key.getPublicSSH();
}

/** OpenSSH-style fingerprint, "SHA256:base64-without-padding". */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}
