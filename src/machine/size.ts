import { ExitCode, SkiffError } from '../errors.js';

const UNITS: Record<string, number> = { '': 1, k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024 };

/**
 * Parses a size like "2048", "2G", "512M", "1.5GiB" into MiB. A bare number is
 * taken in `bareUnit` (memory is given in MiB, disks in GiB, as users expect).
 */
export function parseSizeMiB(input: string | number, bareUnit: 'm' | 'g', what: string): number {
  const text = String(input).trim();
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text);
  if (!m) {
    throw new SkiffError('invalid-size', `invalid ${what} ${JSON.stringify(text)}`, {
      hint: `give a number with an optional unit, e.g. ${bareUnit === 'm' ? '2048 or 2G' : '20 or 20G'}`,
      exitCode: ExitCode.usage,
    });
  }
  const unit = (m[2] ?? '').toLowerCase() || bareUnit;
  return Math.round(Number(m[1]) * (UNITS[unit] ?? 1));
}
