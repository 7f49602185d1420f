import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Iso9660 } from '../../image/iso9660.js';
import { SkiffError } from '../../errors.js';
import { exists } from '../../util/exists.js';

/** The kernel QEMU boots directly, taken out of the guest ISO (the guest contract). */
export interface BootFiles {
  kernel: string;
  initrd: string;
  cmdline: string;
  version: string;
}

export function bootDir(driverDir: string): string {
  return path.join(driverDir, 'boot');
}

export function bootFilePaths(driverDir: string): { kernel: string; initrd: string; cmdline: string; version: string } {
  const d = bootDir(driverDir);
  return {
    kernel: path.join(d, 'vmlinuz'),
    initrd: path.join(d, 'initrd.img'),
    cmdline: path.join(d, 'cmdline'),
    version: path.join(d, 'version'),
  };
}

/**
 * Extracts /boot/{vmlinuz,initrd.img,cmdline,version} into driverDir/boot. The
 * set is swapped in as one directory, so a crash never pairs one image's kernel
 * with another's initrd.
 */
export async function extractBootFiles(isoPath: string, driverDir: string): Promise<void> {
  const final = bootDir(driverDir);
  const tmp = path.join(driverDir, `.boot.${randomBytes(4).toString('hex')}.tmp`);
  const old = path.join(driverDir, '.boot.old');
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  try {
    const iso = await Iso9660.open(isoPath);
    try {
      await iso.extractFile('/boot/vmlinuz', path.join(tmp, 'vmlinuz'));
      await iso.extractFile('/boot/initrd.img', path.join(tmp, 'initrd.img'));
      await iso.extractFile('/boot/cmdline', path.join(tmp, 'cmdline'));
      await iso.extractFile('/boot/version', path.join(tmp, 'version'));
    } finally {
      await iso.close();
    }
    const cmdline = (await readFile(path.join(tmp, 'cmdline'), 'utf8')).trim();
    if (cmdline === '' || cmdline.includes('\n')) {
      throw new SkiffError('iso-invalid', `${isoPath}: /boot/cmdline must be one non-empty line`, {
        hint: 'the image is not a skiff guest image: fetch or build it again',
      });
    }
    await writeFile(path.join(tmp, 'source.json'), JSON.stringify(await isoIdentity(isoPath)) + '\n');
    await rm(old, { recursive: true, force: true });
    if (await exists(final)) await rename(final, old);
    await rename(tmp, final);
    await rm(old, { recursive: true, force: true });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Reads the extracted set; recovers the previous set if a swap was interrupted. */
export async function loadBootFiles(driverDir: string): Promise<BootFiles> {
  const final = bootDir(driverDir);
  const old = path.join(driverDir, '.boot.old');
  if (!(await exists(final)) && (await exists(old))) await rename(old, final);
  const p = bootFilePaths(driverDir);
  let cmdline: string;
  let version: string;
  try {
    await stat(p.kernel);
    await stat(p.initrd);
    cmdline = (await readFile(p.cmdline, 'utf8')).trim();
    version = (await readFile(p.version, 'utf8')).trim();
  } catch (e) {
    throw new SkiffError('qemu-boot-files', `the machine's kernel files are missing in ${final}`, {
      hint: 'run `skiff upgrade` to extract them from the image again, or delete and re-create the machine',
      cause: e,
    });
  }
  return { kernel: p.kernel, initrd: p.initrd, cmdline, version };
}


interface IsoIdentity {
  isoPath: string;
  size: number;
  mtimeMs: number;
}

async function isoIdentity(isoPath: string): Promise<IsoIdentity> {
  const st = await stat(isoPath);
  return { isoPath: path.resolve(isoPath), size: st.size, mtimeMs: st.mtimeMs };
}

/**
 * True when the extracted kernel came from this very ISO file. The ISO is also
 * the guest's root drive, so a kernel from another image must never boot it.
 */
export async function bootSourceMatches(isoPath: string, driverDir: string): Promise<boolean> {
  try {
    const recorded = JSON.parse(await readFile(path.join(bootDir(driverDir), 'source.json'), 'utf8')) as IsoIdentity;
    const now = await isoIdentity(isoPath);
    return recorded.isoPath === now.isoPath && recorded.size === now.size && recorded.mtimeMs === now.mtimeMs;
  } catch {
    return false;
  }
}
