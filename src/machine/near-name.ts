import { readdir } from 'node:fs/promises';
import { machinesDir } from '../layout/paths.js';

/** The names under machines/ (a leftover of an interrupted init among them: callers load to be sure). */
export async function machineDirNames(home: string): Promise<string[]> {
  try {
    return (await readdir(machinesDir(home), { withFileTypes: true }))
      .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
      .map((d) => d.name)
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Edits (insert, delete, substitute, swap two neighbours) from a to b. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const sub = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + sub);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The existing name `name` was most likely meant to be: the same but for case,
 * or one or two slips of the keyboard away. Names of four letters or fewer
 * match only one slip that keeps the length (a wrong or swapped letter): a
 * letter more or less turns "pi" into "api", an unrelated name.
 */
export function nearestName(name: string, names: string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const n of names) {
    if (n === name) return undefined;
    const d = n.toLowerCase() === name.toLowerCase() ? 0 : editDistance(name, n);
    const short = Math.min(name.length, n.length) <= 4;
    const near = short ? d <= 1 && n.length === name.length : d <= 2;
    if (near && (!best || d < best.d)) best = { name: n, d };
  }
  return best?.name;
}
