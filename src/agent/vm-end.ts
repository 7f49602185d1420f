import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-file.js';

/**
 * How a machine's last VM run ended without `skiff stop`, as its agent saw it:
 * written to machines/NAME/vm-end.json, read by `status`/`list`, removed by the
 * next successful `start`.
 */
export interface VmEnd {
  /** crashed: killed or died; powered-off: the guest shut itself down. */
  kind: 'crashed' | 'powered-off';
  /** ISO time the agent noticed (within a few seconds of the end). */
  at: string;
  /** One line: what ended and why, as far as the host can know. */
  cause: string;
  /** The last lines of the guest console, which often say why (a panic, an OOM in the guest). */
  consoleTail: string[];
}

export async function readVmEnd(file: string): Promise<VmEnd | undefined> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as Partial<VmEnd>;
    if ((v.kind !== 'crashed' && v.kind !== 'powered-off') || typeof v.at !== 'string' || typeof v.cause !== 'string') return undefined;
    return { kind: v.kind, at: v.at, cause: v.cause, consoleTail: Array.isArray(v.consoleTail) ? v.consoleTail.filter((l) => typeof l === 'string') : [] };
  } catch {
    return undefined;
  }
}

export async function writeVmEnd(file: string, end: VmEnd): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(end, null, 2) + '\n', { mode: 0o600 });
}
