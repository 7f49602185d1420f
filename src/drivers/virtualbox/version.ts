import { ExitCode, SkiffError } from '../../errors.js';

export interface VBoxVersion {
  major: number;
  minor: number;
  patch: number;
  /** As printed, e.g. "7.0.20r163906". */
  text: string;
}

export const MIN_VERSION = { major: 6, minor: 1 } as const;

/**
 * `VBoxManage --version` prints e.g. "7.0.20r163906" or "6.1.50_Ubuntur161033";
 * on Linux hosts with a missing kernel module a WARNING paragraph comes first,
 * so the version is the last line that looks like one.
 */
export function parseVersion(stdout: string): VBoxVersion | undefined {
  const lines = stdout.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^(\d+)\.(\d+)\.(\d+)/.exec(lines[i]!);
    if (m) return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), text: lines[i]! };
  }
  return undefined;
}

export function atLeast(v: VBoxVersion, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

export function requireSupported(v: VBoxVersion): void {
  if (!atLeast(v, MIN_VERSION.major, MIN_VERSION.minor)) {
    throw new SkiffError('vbox-too-old', `VirtualBox ${v.text} is too old: skiff needs ${MIN_VERSION.major}.${MIN_VERSION.minor} or newer`, {
      hint: 'upgrade VirtualBox from https://www.virtualbox.org/wiki/Downloads or your package manager, or use --driver qemu',
      exitCode: ExitCode.environment,
    });
  }
}
