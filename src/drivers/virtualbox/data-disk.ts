import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, SkiffError } from '../../errors.js';
import type { VBoxManage } from './vboxmanage.js';

const MiB = 1024 * 1024;

export function dataDiskPath(driverDir: string): string {
  return path.join(driverDir, 'data.vdi');
}

/**
 * Makes driverDir/data.vdi: the seed, zero-padded to 1 MiB, converted to a
 * dynamic VDI under a temp name and renamed into place, then grown to diskGiB.
 * convertfromraw writes a file and registers nothing, so the rename is safe;
 * modifymedium (which registers the medium by path) runs only on the final
 * name. Growing a dynamic VDI rewrites its header and block map, never data.
 */
export async function makeDataDisk(vbox: VBoxManage, opts: { seed: string; driverDir: string; diskGiB: number }): Promise<string> {
  let seed: Buffer;
  try {
    seed = await readFile(opts.seed);
  } catch (e) {
    throw new SkiffError('seed-missing', `the data-disk seed ${opts.seed} cannot be read`, {
      hint: 'run `skiff init` again to regenerate it',
      exitCode: ExitCode.failure,
      cause: e,
    });
  }
  const rawSize = Math.max(MiB, Math.ceil(seed.length / MiB) * MiB);
  if (rawSize > opts.diskGiB * 1024 * MiB) {
    throw new SkiffError('disk-too-small', `a ${opts.diskGiB} GiB disk cannot hold the seed`, { exitCode: ExitCode.usage });
  }
  const raw = Buffer.alloc(rawSize);
  seed.copy(raw);
  const tag = randomBytes(4).toString('hex');
  const rawFile = path.join(opts.driverDir, `.data-${tag}.raw`);
  const tmpVdi = path.join(opts.driverDir, `.data-${tag}.vdi`);
  const final = dataDiskPath(opts.driverDir);
  try {
    await writeFile(rawFile, raw, { mode: 0o600, flag: 'wx' });
    await vbox.run(['convertfromraw', rawFile, tmpVdi, '--format', 'VDI']);
    // It holds the seed, with the guest's private host key: the user's alone.
    await chmod(tmpVdi, 0o600);
    await rename(tmpVdi, final);
  } finally {
    await rm(rawFile, { force: true });
    await rm(tmpVdi, { force: true });
  }
  await vbox.run(['modifymedium', 'disk', final, '--resize', String(opts.diskGiB * 1024)]);
  return final;
}
