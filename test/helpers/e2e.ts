import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { skiff } from './cli.js';

/** The guest image the e2e suites boot; CI builds it before the tests. */
export const BUILT_ISO = path.resolve('iso/out/skiff-amd64.iso');
/** Debian's busybox-static: a static binary to build images from, no registry needed. */
export const STATIC_BUSYBOX = '/bin/busybox';

/** Fails the suite up front, saying what to do, when an artifact it needs is missing. */
export function requireArtifacts(opts: { iso?: boolean; busybox?: boolean } = { iso: true, busybox: true }): void {
  if (opts.iso && !existsSync(BUILT_ISO)) throw new Error(`${BUILT_ISO} is missing: build it with \`npm run iso\` (CI does)`);
  if (opts.busybox && !existsSync(STATIC_BUSYBOX)) throw new Error(`${STATIC_BUSYBOX} is missing: apt-get install busybox-static`);
}

/** Whatever a suite's tests did or failed to do, no VM or agent of its machine outlives it. */
export async function removeSuiteMachine(env: NodeJS.ProcessEnv, dirs: string[]): Promise<void> {
  await skiff(['stop', '--force'], env, 120_000);
  await skiff(['delete', '--yes'], env, 120_000);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
