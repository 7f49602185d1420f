import tar from 'tar-stream';
import { writeFileAtomic } from '../util/atomic-file.js';
import { shQuote } from '../util/sh-quote.js';

/**
 * The data disk starts with this: it is the name of the first tar entry, so the
 * disk's first bytes are the magic and the whole seed is a plain tar the guest
 * extracts with busybox tar. The guest formats the disk only when it sees it.
 */
export const SEED_MAGIC = 'skiff-seed-v1';
/** The guest reads at most this much of the disk as the seed. */
export const SEED_MAX_BYTES = 1024 * 1024;

export interface SeedContents {
  /** OpenSSH authorized_keys lines for root. */
  authorizedKeys: string;
  /** The guest's host key pair, in OpenSSH format. */
  hostKeyPrivate: string;
  hostKeyPublic: string;
  /** KEY=value settings the guest reads at boot (hostname, shares, ...). */
  settings: Record<string, string>;
}

export function renderSettings(settings: Record<string, string>): string {
  return Object.entries(settings)
    .map(([k, v]) => {
      if (!/^[A-Z][A-Z0-9_]*$/.test(k)) throw new Error(`bad settings key ${k}`);
      // Single-quoted for the guest's sh; a quote inside is closed, escaped and reopened.
      return `${k}=${shQuote(v)}\n`;
    })
    .join('');
}

/** Builds the seed tar in memory (it is a few KiB). */
export async function buildSeed(c: SeedContents): Promise<Buffer> {
  const pack = tar.pack();
  const entries: Array<[string, string, number]> = [
    [SEED_MAGIC, '1\n', 0o644],
    ['authorized_keys', c.authorizedKeys.endsWith('\n') ? c.authorizedKeys : c.authorizedKeys + '\n', 0o600],
    ['ssh_host_ed25519_key', c.hostKeyPrivate, 0o600],
    ['ssh_host_ed25519_key.pub', c.hostKeyPublic, 0o644],
    ['settings.env', renderSettings(c.settings), 0o644],
  ];
  const chunks: Buffer[] = [];
  pack.on('data', (d: unknown) => chunks.push(d as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const [name, body, mode] of entries) {
    pack.entry({ name, mode, mtime: new Date(0), uid: 0, gid: 0 }, body);
  }
  pack.finalize();
  await done;
  const out = Buffer.concat(chunks);
  if (out.length > SEED_MAX_BYTES) throw new Error('seed larger than the guest reads');
  return out;
}

/** Writes the seed atomically, readable by the user alone (it holds the guest's private host key). */
export async function writeSeed(file: string, c: SeedContents): Promise<void> {
  await writeFileAtomic(file, await buildSeed(c), { mode: 0o600 });
}
