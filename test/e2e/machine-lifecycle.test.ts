import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skiff } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { BUILT_ISO, BUSYBOX_ROOTFS_ARM64, removeSuiteMachine, requireArtifacts, STATIC_BUSYBOX } from '../helpers/e2e.js';

/**
 * issue 4: a new user's whole path with the real ISO, the real QEMU (TCG here) and
 * the host's real docker CLI: init, start, shellinit, docker build/run/commit/tag/
 * import/volumes, stop, start (data kept), delete (nothing left). One machine for
 * the whole file, booted twice, to keep CI's boot count low. The machine has
 * binfmt on (issue 11), so an arm64 image runs on this amd64 guest too.
 */
const ISO = BUILT_ISO;
const BUSYBOX = STATIC_BUSYBOX;

const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-e2e-'));
const env: NodeJS.ProcessEnv = {
  SKIFF_HOME: path.join(root, 'home'),
  SKIFF_RUNTIME_DIR: path.join('/tmp', `sk-e2e-${process.pid}`),
  DOCKER_CONFIG: path.join(root, 'docker-config'),
};
let dockerHost = '';
// A host folder shared with the guest at the same path, as the user's home is by default.
const share = path.join(root, 'share');

async function run(args: string[], timeoutMs?: number) {
  const r = await skiff(args, env, timeoutMs);
  if (r.code !== 0) throw new Error(`skiff ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

beforeAll(() => requireArtifacts({ iso: true, busybox: true, arm64: true }));

afterAll(async () => {
  await removeSuiteMachine(env, [root, env.SKIFF_RUNTIME_DIR!]);
}, 240_000);

describe('a machine from init to delete', () => {
  it('init creates the machine from the local ISO', async () => {
    mkdirSync(share);
    writeFileSync(path.join(share, 'from-host.txt'), 'written on the host\n');
    const r = await run(['init', '--iso', ISO, '--cpus', '2', '--memory', '2G', '--disk', '8G', '--share', share, '--binfmt', '--json']);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ name: 'default', driver: 'qemu', arch: 'x86_64', binfmt: true, cpus: 2, memoryMiB: 2048, diskGiB: 8 });
    expect(statSync(path.join(env.SKIFF_HOME!, 'machines/default/id_ed25519')).mode & 0o777).toBe(0o600);
  });

  it('start boots it and returns when the engine answers through the socket', async () => {
    const r = await run(['start', '--json', '--timings'], 300_000);
    const out = JSON.parse(r.stdout);
    expect(out.alreadyRunning).toBe(false);
    expect(out.ssh.host).toBe('127.0.0.1');
    const sock = statSync(out.socket);
    expect(sock.isSocket()).toBe(true);
    expect(sock.mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(out.socket)).mode & 0o777).toBe(0o700);
    console.log('cold start timings:', JSON.stringify(out.timings));
  }, 320_000);

  it('shellinit points the docker CLI at the machine', async () => {
    const r = await run(['shellinit', '--shell', 'bash']);
    const m = /export DOCKER_HOST='([^']+)'/.exec(r.stdout);
    expect(m).not.toBeNull();
    dockerHost = m![1]!;
    const out = execFileSync('bash', ['-c', `eval "$(node ${JSON.stringify(path.resolve('bin/skiff.js'))} shellinit --shell bash)"; docker version --format '{{.Server.Version}}'`], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('docker info sees a Linux engine with the data disk as its root dir', async () => {
    const r = await docker(dockerHost, ['info', '--format', '{{.OSType}} {{.DockerRootDir}} {{.Driver}}']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^linux \/var\/lib\/docker \S+/);
  });

  it('builds an image FROM scratch, runs it, commits and tags a container', async () => {
    const ctx = path.join(root, 'ctx');
    mkdirSync(ctx);
    copyFileSync(BUSYBOX, path.join(ctx, 'busybox'));
    writeFileSync(
      path.join(ctx, 'Dockerfile'),
      'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/sh"]\n',
    );
    let r = await docker(dockerHost, ['build', '-q', '-t', 'skiff-e2e/bb:1', ctx], { env: { DOCKER_BUILDKIT: '0' } });
    expect(r.code, r.stderr).toBe(0);
    r = await docker(dockerHost, ['run', '--name', 'c1', 'skiff-e2e/bb:1', 'sh', '-c', 'echo hello > /greeting; cat /greeting']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('hello');
    r = await docker(dockerHost, ['commit', 'c1', 'skiff-e2e/committed:1']);
    expect(r.code, r.stderr).toBe(0);
    r = await docker(dockerHost, ['tag', 'skiff-e2e/committed:1', 'skiff-e2e/committed:latest']);
    expect(r.code, r.stderr).toBe(0);
    r = await docker(dockerHost, ['run', '--rm', 'skiff-e2e/committed:latest', 'cat', '/greeting']);
    expect(r.stdout.trim()).toBe('hello');
  }, 240_000);

  it('imports a rootfs tarball', async () => {
    const rootfs = path.join(root, 'rootfs');
    mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
    copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
    const tarball = path.join(root, 'rootfs.tar');
    execFileSync('tar', ['-C', rootfs, '-cf', tarball, '.']);
    let r = await docker(dockerHost, ['import', tarball, 'skiff-e2e/imported:1']);
    expect(r.code, r.stderr).toBe(0);
    r = await docker(dockerHost, ['run', '--rm', 'skiff-e2e/imported:1', '/bin/busybox', 'echo', 'imported ok']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('imported ok');
  }, 120_000);

  it('with binfmt on, an arm64 image runs on this amd64 guest and prints aarch64', async () => {
    let r = await docker(dockerHost, ['import', '--platform', 'linux/arm64', BUSYBOX_ROOTFS_ARM64, 'skiff-e2e/bb-arm64:1']);
    expect(r.code, r.stderr).toBe(0);
    r = await docker(dockerHost, ['run', '--rm', '--platform', 'linux/arm64', 'skiff-e2e/bb-arm64:1', '/bin/uname', '-m']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('aarch64');
    const s = JSON.parse((await run(['status', '--json'])).stdout);
    expect(s).toMatchObject({ arch: 'x86_64', binfmt: true });
  }, 180_000);

  it('writes to a named volume', async () => {
    let r = await docker(dockerHost, ['volume', 'create', 'skiff-e2e-vol']);
    expect(r.code, r.stderr).toBe(0);
    r = await docker(dockerHost, ['run', '--rm', '-v', 'skiff-e2e-vol:/data', 'skiff-e2e/bb:1', 'sh', '-c', 'echo kept > /data/file && sync']);
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);

  it('a shared host folder is visible to containers through -v, both ways', async () => {
    const r = await docker(dockerHost, ['run', '--rm', '-v', `${share}:/src`, 'skiff-e2e/bb:1', 'sh', '-c', 'cat /src/from-host.txt && echo written in a container > /src/from-container.txt']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('written on the host\n');
    expect(readFileSync(path.join(share, 'from-container.txt'), 'utf8')).toBe('written in a container\n');
  }, 120_000);

  it('status tells the truth while running', async () => {
    const s = JSON.parse((await run(['status', '--json'])).stdout);
    expect(s).toMatchObject({ state: 'running', driver: 'qemu', agent: { state: 'running' } });
    expect(s.engine.version).toMatch(/^\d+\./);
  });

  it('ssh runs a command and passes its exit code through', async () => {
    let r = await skiff(['ssh', '--', 'mount | grep -c " /var/lib/docker "'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.stdout.trim())).toBeGreaterThan(0);
    r = await skiff(['ssh', '--', 'exit 7'], env);
    expect(r.code).toBe(7);
  });

  it('start on a running machine returns at once', async () => {
    const out = JSON.parse((await run(['start', '--json'])).stdout);
    expect(out.alreadyRunning).toBe(true);
  });

  it('stop shuts down cleanly and leaves no socket behind', async () => {
    const r = await run(['stop', '--json'], 180_000);
    expect(JSON.parse(r.stdout)).toMatchObject({ stopped: true, wasRunning: true });
    const s = JSON.parse((await run(['status', '--json'])).stdout);
    expect(s.state).toBe('stopped');
    expect(existsSync(s.socket)).toBe(false);
    const docker1 = await docker(dockerHost, ['version'], { timeoutMs: 20_000 });
    expect(docker1.code).not.toBe(0);
  }, 200_000);

  it('after a second start, images and volume data are still there', async () => {
    await run(['start'], 300_000);
    let r = await docker(dockerHost, ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(r.stdout.split('\n')).toEqual(expect.arrayContaining(['skiff-e2e/bb:1', 'skiff-e2e/committed:latest', 'skiff-e2e/imported:1']));
    r = await docker(dockerHost, ['run', '--rm', '-v', 'skiff-e2e-vol:/data', 'skiff-e2e/bb:1', 'cat', '/data/file']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('kept');
  }, 400_000);

  it('delete removes everything of the machine', async () => {
    await run(['delete', '--yes'], 180_000);
    expect(readdirSync(path.join(env.SKIFF_HOME!, 'machines')).filter((n) => !n.startsWith('.'))).toEqual([]);
    const l = JSON.parse((await run(['list', '--json'])).stdout);
    expect(l).toEqual([]);
    expect(existsSync(path.join(env.SKIFF_RUNTIME_DIR!))).toBe(true); // the root stays; the machine's dir goes
    expect(readdirSync(env.SKIFF_RUNTIME_DIR!).flatMap((d) => readdirSync(path.join(env.SKIFF_RUNTIME_DIR!, d)))).toEqual([]);
  }, 200_000);
});
