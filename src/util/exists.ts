import { stat } from 'node:fs/promises';

/** True when something is at p (following links); any error counts as absent. */
export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
