import { readFile } from 'node:fs/promises';
import { ExitCode, SkiffError } from '../errors.js';
import { fingerprint, publicKeyBlob } from './keys.js';

/** The pinned host key of a guest, loaded from the `.pub` file skiff generated for it. */
export interface PinnedHostKey {
  blob: Buffer;
  fingerprint: string;
}

export async function loadPinnedHostKey(hostPubPath: string): Promise<PinnedHostKey> {
  let text: string;
  try {
    text = await readFile(hostPubPath, 'utf8');
  } catch (e) {
    throw new SkiffError('host-key-missing', `cannot read the guest's host key ${hostPubPath}`, {
      hint: 'the machine is incomplete: re-create it with `skiff delete` and `skiff init`',
      exitCode: ExitCode.environment,
      cause: e,
    });
  }
  const blob = publicKeyBlob(text);
  return { blob, fingerprint: fingerprint(blob) };
}

/**
 * What to do when `where` (host:port) offers another host key. Besides a replaced
 * guest or an interceptor, another program may hold the forwarded port: VirtualBox
 * 7's libslirp NAT only logs a forward it cannot bind and starts the VM anyway.
 */
export function hostKeyChangedHint(where: string, remote = false): string {
  if (remote) {
    return `if the host was reinstalled or its keys made anew, check the new fingerprint on the host (\`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\`), then \`skiff delete\` the machine (that touches nothing on the host) and \`skiff init\` it again with --host-key; otherwise something may be intercepting the connection`;
  }
  const port = where.slice(where.lastIndexOf(':') + 1);
  return `another program may be answering on ${where}: find it (\`lsof -nP -iTCP:${port} -sTCP:LISTEN\`, or \`netstat -ano\` on Windows), stop it, then \`skiff restart\`; if you re-created the machine outside skiff, run \`skiff delete\` and \`skiff init\``;
}

/**
 * Thrown when the guest offers a host key other than the one skiff generated for it:
 * another program on the port, a replaced guest, or something in the middle. Never retried.
 */
export function hostKeyChangedError(pinned: PinnedHostKey, offered: Buffer, where = 'the SSH port', remote = false): SkiffError {
  return new SkiffError(
    'host-key-changed',
    `the ${remote ? "remote host's" : "guest's"} host key changed: expected ${pinned.fingerprint}, got ${fingerprint(offered)} from ${where}; refusing to connect`,
    { hint: hostKeyChangedHint(where, remote), exitCode: ExitCode.conflict },
  );
}

export function isHostKeyChanged(e: unknown): boolean {
  return e instanceof SkiffError && e.code === 'host-key-changed';
}
