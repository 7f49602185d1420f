import { readdir } from 'node:fs/promises';
import { machinesDir } from './paths.js';

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
