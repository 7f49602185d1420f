import { rmSync } from 'node:fs';

export function removeQuietly(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // Best effort on cleanup paths: a file we cannot remove is reported as stale later.
  }
}
