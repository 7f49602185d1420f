import { chmod, copyFile, link, open, rm, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ExitCode, SkiffError } from '../../errors.js';
import { firstLine } from './binaries.js';
import { exists } from '../../util/exists.js';

/**
 * Makes the qcow2 data disk whose first bytes are the seed. Every step writes a
 * temp file next to the target and the last one links it into place, so the
 * target is never converted or resized in place, and an existing disk is never
 * replaced (link fails on an existing name, unlike rename).
 */
export async function createDataDisk(opts: { qemuImg: string; seed: string; dest: string; sizeGiB: number }): Promise<void> {
  const { qemuImg, seed, dest, sizeGiB } = opts;
  if (await exists(dest)) throw diskExists(dest);
  const seedSize = (await stat(seed).catch((e: unknown) => {
    throw new SkiffError('seed-missing', `the data-disk seed ${seed} is missing`, {
      hint: 'run `skiff init` again to write it',
      cause: e,
    });
  })).size;
  if (!Number.isInteger(sizeGiB) || sizeGiB < 1) {
    throw new SkiffError('disk-size', `invalid disk size ${sizeGiB} GiB`, { hint: 'give a whole number of GiB, at least 1', exitCode: ExitCode.usage });
  }
  if (seedSize > sizeGiB * 1024 ** 3) throw new SkiffError('disk-size', `the seed (${seedSize} bytes) does not fit a ${sizeGiB} GiB disk`);

  const tag = randomBytes(4).toString('hex');
  const dir = path.dirname(dest);
  const raw = path.join(dir, `.${path.basename(dest)}.${tag}.raw.tmp`);
  const qcow = path.join(dir, `.${path.basename(dest)}.${tag}.qcow2.tmp`);
  try {
    await copyFile(seed, raw);
    // Whole sectors, so no block driver rounds the seed's tail away.
    await truncate(raw, Math.ceil(seedSize / 512) * 512);
    await qemuImgRun(qemuImg, ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow]);
    await qemuImgRun(qemuImg, ['resize', '-q', '-f', 'qcow2', qcow, `${sizeGiB}G`]);
    // It holds the seed (the guest's private host key) and later every image and volume.
    await chmod(qcow, 0o600);
    await fsync(qcow);
    try {
      await link(qcow, dest);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw diskExists(dest);
      throw e;
    }
  } finally {
    await rm(raw, { force: true });
    await rm(qcow, { force: true });
  }
}

async function qemuImgRun(qemuImg: string, args: string[]): Promise<void> {
  const { execa } = await import('execa');
  const r = await execa(qemuImg, args, { reject: false, timeout: 120_000 });
  if (r.exitCode !== 0) {
    throw new SkiffError('disk-create', `qemu-img ${args[0]} failed: ${firstLine(r.stderr || r.stdout) || `exit ${r.exitCode}`}`, {
      hint: 'check free disk space and that qemu-img works (`qemu-img --version`)',
    });
  }
}

function diskExists(dest: string): SkiffError {
  return new SkiffError('disk-exists', `a data disk already exists at ${dest}`, {
    hint: 'skiff never overwrites a data disk: delete the machine first if you really want a new one',
    exitCode: ExitCode.conflict,
  });
}

async function fsync(file: string): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

