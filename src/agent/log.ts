import { appendFileSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export type Log = (line: string) => void;

/**
 * Appends timestamped lines. Synchronous on purpose: the agent logs rarely (link
 * changes, errors), and a line written just before exit must not be lost.
 */
export function fileLogger(file: string): Log {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  return (line) => {
    try {
      appendFileSync(file, `${new Date().toISOString()} ${line.replace(/\n/g, ' ')}\n`, { mode: 0o600 });
    } catch {
      // Nowhere left to report to: the agent has no console.
    }
  };
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
