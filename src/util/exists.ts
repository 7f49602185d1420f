import { readFile, stat } from 'node:fs/promises';

/** True when something is at p (following links); any error counts as absent. */
export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** A file's text, or undefined when there is no such file; any other error is thrown. */
export async function readTextIfExists(file: string | URL): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
