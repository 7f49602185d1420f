import { constants as fsConstants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, SkiffError } from '../errors.js';
import { findInSha256Sums } from './checksum.js';

/** Checks that a user-named image path is a readable regular file; a clear error otherwise. */
export async function assertReadableFile(file: string): Promise<number> {
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new SkiffError('image-not-found', `no such image file: ${file}`, {
        hint: 'check the path given with --iso or SKIFF_ISO_URL (build one with `npm run iso`)',
        exitCode: ExitCode.notFound,
      });
    }
    throw unreadable(file, code ?? String(e));
  }
  if (!st.isFile()) {
    throw new SkiffError('image-not-a-file', `${file} is not a regular file`, {
      hint: 'pass the path of the .iso file itself with --iso',
      exitCode: ExitCode.usage,
    });
  }
  try {
    await access(file, fsConstants.R_OK);
  } catch (e) {
    throw unreadable(file, (e as NodeJS.ErrnoException).code ?? String(e));
  }
  return st.size;
}

function unreadable(file: string, code: string): SkiffError {
  return new SkiffError('image-unreadable', `cannot read ${file} (${code})`, {
    hint: 'check the permissions of the image file',
    exitCode: ExitCode.environment,
  });
}

/** The checksum a SHA256SUMS beside `file` lists for it, if there is such a file and line. */
export async function sumsBeside(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(path.dirname(file), 'SHA256SUMS'), 'utf8');
  } catch {
    return undefined;
  }
  return findInSha256Sums(text, path.basename(file));
}
