import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skiff } from '../helpers/cli.js';
import { skiffOnTty } from '../helpers/tty.js';
import { docker } from '../helpers/docker.js';
import { BUILT_ISO_ARM64, BUSYBOX_ROOTFS_AMD64, BUSYBOX_ROOTFS_ARM64, removeSuiteMachine, requireArtifacts } from '../helpers/e2e.js';

/**
 * issue 11: the arm64 guest image under qemu-system-aarch64 (TCG here), through
 * the real CLI and the host's docker client. One boot for the whole file. The
 * machine has binfmt on, so an x86_64 container runs on it through qemu-x86_64.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-e2e-arm64-'));
const env: NodeJS.ProcessEnv = {
  SKIFF_HOME: path.join(root, 'home'),
  SKIFF_RUNTIME_DIR: path.join('/tmp', `sk-arm-${process.pid}`),
  DOCKER_CONFIG: path.join(root, 'docker-config'),
};
let dockerHost = '';

async function run(args: string[], timeoutMs?: number) {
  const r = await skiff(args, env, timeoutMs);
  if (r.code !== 0) throw new Error(`skiff ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

beforeAll(() => requireArtifacts({ arm64: true }));

afterAll(async () => {
  await removeSuiteMachine(env, [root, env.SKIFF_RUNTIME_DIR!]);
}, 240_000);

describe('an aarch64 machine', () => {
  it('init --arch aarch64 takes the arm64 image', async () => {
    const r = await run(['init', '--arch', 'aarch64', '--iso', BUILT_ISO_ARM64, '--no-shares', '--disk', '4G', '--binfmt', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'default', driver: 'qemu', arch: 'aarch64', binfmt: true });
  });

  it('start boots it under qemu-system-aarch64 and says once that a foreign guest runs under TCG', async () => {
    const r = await skiffOnTty(['start', '--timings'], env, 420_000);
    expect(r.code, r.output.slice(-2000)).toBe(0);
    expect(r.output).toMatch(/Machine "default" is running/);
    const foreign = r.output.match(/an aarch64 guest on an \S+ host cannot use (KVM|HVF)/g) ?? [];
    // On an arm64 host the guest is native: no such notice at all.
    expect(foreign.length, r.output.slice(-2000)).toBe(process.arch === 'arm64' ? 0 : 1);
    expect((r.output.match(/running under TCG/g) ?? []).length, r.output.slice(-2000)).toBe(process.arch === 'arm64' ? 0 : 1);
    console.log('aarch64 start:', r.output.split('\n').filter((l) => /\d s$/.test(l.trim())).join(' | '));
  }, 440_000);

  it('docker info through skiff\'s socket reports aarch64', async () => {
    const r = await run(['shellinit', '--shell', 'bash']);
    dockerHost = /export DOCKER_HOST='([^']+)'/.exec(r.stdout)![1]!;
    const info = await docker(dockerHost, ['info', '--format', '{{.Architecture}} {{.OSType}}']);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout.trim()).toBe('aarch64 linux');
  });

  it("an arm64 busybox rootfs from Debian's busybox-static:arm64 runs and prints aarch64", async () => {
    let r = await docker(dockerHost, ['import', '--platform', 'linux/arm64', BUSYBOX_ROOTFS_ARM64, 'skiff-e2e/bb-arm64:1']);
    expect(r.code, r.stderr).toBe(0);
    r = await docker(dockerHost, ['run', '--rm', 'skiff-e2e/bb-arm64:1', '/bin/uname', '-m']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('aarch64');
  }, 240_000);

  it('with binfmt on, an x86_64 busybox runs on the aarch64 guest and prints x86_64', async () => {
    let r = await docker(dockerHost, ['import', '--platform', 'linux/amd64', BUSYBOX_ROOTFS_AMD64, 'skiff-e2e/bb-amd64:1']);
    expect(r.code, r.stderr).toBe(0);
    r = await docker(dockerHost, ['run', '--rm', '--platform', 'linux/amd64', 'skiff-e2e/bb-amd64:1', '/bin/uname', '-m']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('x86_64');
  }, 240_000);

  it('status and list show the architecture', async () => {
    const s = JSON.parse((await run(['status', '--json'])).stdout);
    expect(s).toMatchObject({ state: 'running', arch: 'aarch64', binfmt: true, accelerator: process.arch === 'arm64' ? expect.any(String) : 'tcg' });
    const l = JSON.parse((await run(['list', '--json'])).stdout);
    expect(l).toEqual([expect.objectContaining({ name: 'default', arch: 'aarch64' })]);
    const human = (await run(['status'])).stdout;
    expect(human).toMatch(/^Arch: +aarch64 \(\+ x86_64 images through binfmt\)$/m);
  });

  it('stop shuts the guest down cleanly through the power key (POWEROFF marker)', async () => {
    const consoleLog = path.join(env.SKIFF_HOME!, 'machines', 'default', 'console.log');
    const r = await run(['stop', '--json'], 180_000);
    expect(JSON.parse(r.stdout)).toMatchObject({ stopped: true, wasRunning: true });
    const text = readFileSync(consoleLog, 'utf8');
    expect(text).toMatch(/^SKIFF-STAGE shutdown [\d.]+\r?$/m);
    expect(text).toMatch(/^SKIFF-POWEROFF [\d.]+\r?$/m);
    expect(text).not.toMatch(/SKIFF-ERROR/);
    const s = JSON.parse((await run(['status', '--json'])).stdout);
    expect(s.state).toBe('stopped');
    expect(existsSync(s.socket)).toBe(false);
  }, 200_000);
});
