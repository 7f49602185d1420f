import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, SkiffError } from '../../errors.js';
import type { Arch } from '../driver.js';

export function qemuSystemName(arch: Arch): string {
  return arch === 'x86_64' ? 'qemu-system-x86_64' : 'qemu-system-aarch64';
}

/** What to install to get `binary`, worded for this host's package manager. */
export function installHint(binary: string, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'darwin') return 'install QEMU: brew install qemu';
  const pkg =
    binary === 'qemu-img' ? 'qemu-utils' : binary === 'qemu-system-aarch64' ? 'qemu-system-arm' : 'qemu-system-x86';
  return `install it: sudo apt-get install ${pkg} (Debian/Ubuntu; other systems: the package that provides ${binary})`;
}

/** Looks `name` up on PATH ourselves so a missing binary is a clear error, not an ENOENT from a spawn. */
export async function findOnPath(name: string, envPath = process.env.PATH ?? ''): Promise<string | undefined> {
  for (const dir of envPath.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next PATH entry
    }
  }
  return undefined;
}

export async function requireBinary(name: string): Promise<string> {
  const found = await findOnPath(name);
  if (found === undefined) {
    // QEMU 10 dropped 64-bit guests on 32-bit hosts: the package is there, the binary is not.
    const only32 = name === 'qemu-system-x86_64' && process.arch === 'ia32' && (await findOnPath('qemu-system-i386')) !== undefined;
    throw new SkiffError('qemu-missing', `${name} not found on PATH`, {
      hint: only32
        ? 'this QEMU cannot run 64-bit guests on a 32-bit host (QEMU 10 dropped it): use QEMU 9 or older, e.g. Debian 12\'s qemu-system-x86'
        : installHint(name),
      exitCode: ExitCode.environment,
    });
  }
  return found;
}

/** "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)" → "7.2.22". */
export function parseQemuVersion(output: string): string | undefined {
  const m = /version\s+(\d+\.\d+(?:\.\d+)?)/i.exec(output);
  return m?.[1];
}

export async function qemuVersion(binary: string): Promise<string> {
  const { execa } = await import('execa');
  const r = await execa(binary, ['--version'], { reject: false, timeout: 15_000 });
  const v = r.exitCode === 0 ? parseQemuVersion(r.stdout) : undefined;
  if (v === undefined) {
    throw new SkiffError('qemu-broken', `${binary} --version failed: ${firstLine(r.stderr || r.stdout) || `exit ${r.exitCode}`}`, {
      hint: `reinstall QEMU; ${installHint(path.basename(binary))}`,
      exitCode: ExitCode.environment,
    });
  }
  return v;
}

export function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
}
