import { ExitCode, SkiffError, errorMessage } from '../errors.js';

/** Turns a filesystem failure while writing into the cache into a SkiffError users can act on. */
export function cacheWriteError(e: unknown, cacheDir: string, resumable: boolean): unknown {
  if (e instanceof SkiffError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new SkiffError('disk-full', `no space left on the device holding ${cacheDir}`, {
      hint: resumable
        ? `free some space there (or set SKIFF_HOME elsewhere) and run again; the download resumes where it stopped`
        : `free some space there (or set SKIFF_HOME elsewhere) and run again`,
      exitCode: ExitCode.environment,
      cause: e,
    });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOTDIR' || code === 'EEXIST') {
    return new SkiffError('cache-unwritable', `cannot write the image cache ${cacheDir} (${code})`, {
      hint: 'make that directory writable, or set SKIFF_HOME to a writable directory',
      exitCode: ExitCode.environment,
      cause: e,
    });
  }
  return new SkiffError('cache-io', `cannot write the image cache ${cacheDir}: ${errorMessage(e)}`, {
    hint: 'check the disk and the permissions of that directory',
    exitCode: ExitCode.environment,
    cause: e,
  });
}
