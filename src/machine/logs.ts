import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { sleep } from '../util/wait.js';

export interface LogFile {
  label: string;
  file: string;
}

/** Copies bytes of `file` from `offset` to `out`, each line prefixed when labelled; returns the new offset. */
async function copyFrom(f: LogFile, offset: number, labelled: boolean, out: Writable, carry: { partial: string }): Promise<number> {
  let fh;
  try {
    fh = await open(f.file, 'r');
  } catch {
    return offset;
  }
  try {
    const { size } = await fh.stat();
    if (size < offset) offset = 0; // rotated or truncated by a new boot
    const chunk = Buffer.alloc(64 * 1024);
    while (offset < size) {
      const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, size - offset), offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
      const text = chunk.subarray(0, bytesRead).toString('utf8');
      if (!labelled) out.write(text);
      else {
        const lines = (carry.partial + text).split('\n');
        carry.partial = lines.pop() ?? '';
        for (const l of lines) out.write(`${f.label.padEnd(7)}| ${l}\n`);
      }
    }
    return offset;
  } finally {
    await fh.close();
  }
}

export interface LogPosition {
  offset: number;
  /** A labelled line not finished yet. */
  carry: { partial: string };
}

/** Prints what the files hold now; returns where each ended, for followFiles. */
export async function printFiles(files: LogFile[], labelled: boolean, out: Writable): Promise<LogPosition[]> {
  const positions: LogPosition[] = [];
  for (const f of files) {
    const carry = { partial: '' };
    positions.push({ offset: await copyFrom(f, 0, labelled, out, carry), carry });
  }
  return positions;
}

/** Prints the unfinished last lines (a prompt, a line being written) when not following. */
export function flushPartial(files: LogFile[], positions: LogPosition[], out: Writable): void {
  positions.forEach((p, i) => {
    if (p.carry.partial) out.write(`${files[i]!.label.padEnd(7)}| ${p.carry.partial}\n`);
  });
}

/** Polls the files and prints what they gain, until the process is interrupted. */
export async function followFiles(files: LogFile[], positions: LogPosition[], labelled: boolean, out: Writable): Promise<never> {
  for (;;) {
    await sleep(250);
    for (let i = 0; i < files.length; i++) {
      const p = positions[i]!;
      p.offset = await copyFrom(files[i]!, p.offset, labelled, out, p.carry);
    }
  }
}
