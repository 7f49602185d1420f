import { appendFileSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export type Log = (line: string) => void;

export const DEFAULT_LOG_MAX_BYTES = 1024 * 1024;

/**
 * Appends timestamped lines. Synchronous on purpose: the agent logs rarely (link
 * changes, errors), and a line written just before exit must not be lost.
 * Bounded however long the agent runs (a link down for days logs every few
 * seconds): a line that would take the file past `maxBytes` first moves it to
 * FILE.1, replacing the one before, so the two hold at most 2 x maxBytes. The
 * size is asked of the file each time because the supervisor appends to it too.
 */
export function fileLogger(file: string, maxBytes = DEFAULT_LOG_MAX_BYTES): Log {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  return (line) => {
    const text = `${new Date().toISOString()} ${line.replace(/\n/g, ' ')}\n`;
    try {
      if (fileSize(file) + Buffer.byteLength(text) > maxBytes) renameSync(file, `${file}.1`);
    } catch {
      // Not rotated this time: the next line tries again.
    }
    try {
      appendFileSync(file, text, { mode: 0o600 });
    } catch {
      // Nowhere left to report to: the agent has no console.
    }
  };
}

/**
 * Writes a line only when it differs from the one before; a run of repeats is
 * summed up when it ends. While a VM is paused the link's probe fails the same
 * way four times a second: one line for that, not 240 a minute.
 */
export function collapsingRepeats(log: Log): Log {
  let last: string | undefined;
  let repeats = 0;
  return (line) => {
    if (line === last) {
      repeats++;
      return;
    }
    if (repeats > 0) log(`(the line before repeated ${repeats} more time${repeats === 1 ? '' : 's'})`);
    last = line;
    repeats = 0;
    log(line);
  };
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The last non-empty lines of a log, without their timestamps. */
export async function lastLogLines(file: string, count: number): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-count)
    .map((l) => l.replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /, ''));
}
