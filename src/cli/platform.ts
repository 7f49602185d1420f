import { ExitCode, SkiffError } from '../errors.js';
import { reportError } from '../ui/output.js';

/**
 * Hosts skiff has never run on are refused up front, before a command half-works:
 * on Windows QEMU has no accelerator skiff probes, and the agent's supervisor
 * is a POSIX shell script.
 */
export function unsupportedPlatform(platform: NodeJS.Platform): SkiffError | undefined {
  if (platform !== 'win32') return undefined;
  return new SkiffError('unsupported-platform', 'Windows is not supported yet', {
    hint: 'run skiff on Linux or macOS for now (WSL 2 can run Docker natively)',
    exitCode: ExitCode.environment,
  });
}

/** Exits with the error when this host is not supported; `version` and `--help` still answer. */
export function refuseUnsupportedPlatform(args: string[], platform: NodeJS.Platform = process.platform): void {
  const err = unsupportedPlatform(platform);
  if (err === undefined || args.some((a) => a === 'version' || a === '--version' || a === '--help' || a === '-h')) return;
  process.exit(reportError(err, { json: args.includes('--json'), debug: false }));
}
