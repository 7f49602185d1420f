import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, SkiffError } from '../errors.js';

/**
 * The runtime dir holds the Docker socket and QMP socket. Its parents often live in
 * a shared /tmp, where another user could have created them first: then they could
 * swap our dir for theirs. Each parent up to (not including) a sticky world-writable
 * dir like /tmp must be a real directory, owned by us (or root), writable by no one else.
 */
export async function checkRuntimeParents(runDir: string, uid = process.getuid?.()): Promise<void> {
  if (uid === undefined) return; // no uids (Windows)
  let dir = path.dirname(path.resolve(runDir));
  for (let depth = 0; depth < 2; depth++) {
    let st;
    try {
      st = await lstat(dir);
    } catch {
      // Not there (yet): the ones above it still decide who could swap it.
      dir = path.dirname(dir);
      continue;
    }
    const sticky = (st.mode & 0o1000) !== 0;
    if (st.isDirectory() && sticky) return; // like /tmp: others cannot rename or remove our entries
    const why = st.isSymbolicLink()
      ? 'it is a symbolic link'
      : !st.isDirectory()
        ? 'it is not a directory'
        : st.uid !== uid && st.uid !== 0
          ? `it belongs to uid ${st.uid}`
          : (st.mode & 0o022) !== 0
            ? 'others can write to it'
            : undefined;
    if (why !== undefined) {
      throw new SkiffError('runtime-dir-unsafe', `the runtime dir ${dir} is unsafe for skiff's sockets: ${why}`, {
        hint: 'remove it (skiff re-creates it), or set SKIFF_RUNTIME_DIR to a directory only you can write to',
        exitCode: ExitCode.environment,
      });
    }
    dir = path.dirname(dir);
  }
}
