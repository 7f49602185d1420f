import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { skiff } from './cli.js';

/** The guest image the e2e suites boot; CI builds it before the tests. */
export const BUILT_ISO = path.resolve('iso/out/skiff-amd64.iso');
/** The arm64 guest image (`npm run iso -- --arch arm64`; CI builds it). */
export const BUILT_ISO_ARM64 = path.resolve('iso/out/skiff-arm64.iso');
/** Debian's busybox-static:arm64 as a root filesystem tar for `docker import` (written by the arm64 build). */
export const BUSYBOX_ROOTFS_ARM64 = path.resolve('iso/out/busybox-rootfs-arm64.tar');
/** The same from the amd64 build (busybox-static:amd64): an x86_64 container for an arm64 guest with binfmt. */
export const BUSYBOX_ROOTFS_AMD64 = path.resolve('iso/out/busybox-rootfs-amd64.tar');
/** Debian's busybox-static: a static binary to build images from, no registry needed. */
export const STATIC_BUSYBOX = '/bin/busybox';

/** Fails the suite up front, saying what to do, when an artifact it needs is missing. */
export function requireArtifacts(opts: { iso?: boolean; busybox?: boolean; arm64?: boolean } = { iso: true, busybox: true }): void {
  if (opts.iso && !existsSync(BUILT_ISO)) throw new Error(`${BUILT_ISO} is missing: build it with \`npm run iso\` (CI does)`);
  for (const f of opts.arm64 ? [BUILT_ISO_ARM64, BUSYBOX_ROOTFS_ARM64, BUSYBOX_ROOTFS_AMD64] : []) {
    if (!existsSync(f)) throw new Error(`${f} is missing: build it with \`npm run iso -- --arch arm64\` (CI does)`);
  }
  if (opts.busybox && !existsSync(STATIC_BUSYBOX)) throw new Error(`${STATIC_BUSYBOX} is missing: apt-get install busybox-static`);
}

/** Whatever a suite's tests did or failed to do, no VM or agent of its machine outlives it. */
export async function removeSuiteMachine(env: NodeJS.ProcessEnv, dirs: string[]): Promise<void> {
  await skiff(['stop', '--force'], env, 120_000);
  await skiff(['delete', '--yes'], env, 120_000);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

/** A suite's private skiff home, runtime dir (short: sockets live there) and docker config. */
export function suiteEnv(root: string, runtimeTag: string): NodeJS.ProcessEnv {
  return {
    SKIFF_HOME: path.join(root, 'home'),
    SKIFF_RUNTIME_DIR: path.join('/tmp', `sk-${runtimeTag}-${process.pid}`),
    DOCKER_CONFIG: path.join(root, 'docker-config'),
  };
}

/** Runs the CLI and fails with its stderr unless it exits 0. */
export async function skiffOk(env: NodeJS.ProcessEnv, args: string[], timeoutMs?: number) {
  const r = await skiff(args, env, timeoutMs);
  if (r.code !== 0) throw new Error(`skiff ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}
