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
 * Thrown when the guest offers a host key other than the one skiff generated for it:
 * either the guest was replaced or something sits in the middle. Never retried.
 */
export function hostKeyChangedError(pinned: PinnedHostKey, offered: Buffer): SkiffError {
  return new SkiffError(
    'host-key-changed',
    `the guest's host key changed: expected ${pinned.fingerprint}, got ${fingerprint(offered)}; refusing to connect`,
    {
      hint: 'if you re-created the machine outside skiff, run `skiff delete` and `skiff init` again; otherwise something is intercepting the connection',
      exitCode: ExitCode.conflict,
    },
  );
}

export function isHostKeyChanged(e: unknown): boolean {
  return e instanceof SkiffError && e.code === 'host-key-changed';
}
