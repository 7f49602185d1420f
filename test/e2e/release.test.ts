import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker } from '../helpers/docker.js';
import { BUILT_ISO, BUILT_ISO_ARM64, requireArtifacts } from '../helpers/e2e.js';
import { sha256, sha256sums, TestHttpServer } from '../helpers/http-server.js';
import { skiffOnTty } from '../helpers/tty.js';

/**
 * issue 17: a release rehearsal. skiff is packed as `npm publish` packs it
 * (prepack pins its images' checksums), installed from the tarball with no
 * install scripts into an empty prefix, and run with an empty HOME from a
 * folder with no iso/out in sight. The images are served in the release layout
 * (BASE/vVERSION/skiff-ARCH.iso and SHA256SUMS) by a loopback HTTP server that
 * SKIFF_RELEASE_BASE_URL points at, so `skiff start` takes the path a user's
 * first start takes: download (a progress bar on a terminal, resumed after a cut
 * connection), verify against the pinned checksum, create, boot, serve docker.
 * One boot.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-e2e-release-'));
const prefix = path.join(root, 'prefix');
const home = path.join(root, 'home');
const work = path.join(root, 'work');
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
const http = new TestHttpServer();
const assetPath = `/releases/v${pkg.version}/skiff-amd64.iso`;
const sumsPath = `/releases/v${pkg.version}/SHA256SUMS`;
let bin = '';
let env: NodeJS.ProcessEnv = {};
let iso = Buffer.alloc(0);

beforeAll(async () => {
  requireArtifacts({ iso: true });
  if (!existsSync(BUILT_ISO_ARM64)) throw new Error(`${BUILT_ISO_ARM64} is missing: npm pack pins both images (npm run iso -- --arch arm64; CI builds it)`);
  for (const d of [prefix, home, work]) mkdirSync(d, { recursive: true });
  const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', root], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const tgz = path.join(root, out.trim().split('\n').pop()!);
  execFileSync('npm', ['install', '--prefix', prefix, '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tgz], { stdio: 'inherit' });
  bin = path.join(prefix, 'node_modules', 'skiff', 'bin', 'skiff.js');
  iso = readFileSync(BUILT_ISO); // one read: CI may rebuild the file meanwhile
  await http.start();
  env = {
    HOME: home,
    SKIFF_HOME: '',
    SKIFF_ISO_URL: '',
    XDG_RUNTIME_DIR: '',
    SKIFF_RUNTIME_DIR: path.join('/tmp', `sk-rel-${process.pid}`),
    SKIFF_RELEASE_BASE_URL: http.url('/releases'),
    DOCKER_CONFIG: path.join(root, 'docker-config'),
  };
}, 300_000);

afterAll(async () => {
  if (bin) {
    await skiffInstalled(['stop', '--force'], 120_000);
    await skiffInstalled(['delete', '--yes'], 120_000);
  }
  await http.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(env.SKIFF_RUNTIME_DIR ?? '/nonexistent', { recursive: true, force: true });
}, 240_000);

/** The installed package's CLI, run from a folder outside the checkout. */
function skiffInstalled(args: string[], timeoutMs = 300_000) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: work, env: { ...process.env, NO_COLOR: '1', ...env }, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: stdout.toString(), stderr: stderr.toString() }),
    );
  });
}

describe('a release installed from its npm tarball', () => {
  it('carries its images’ checksums, its built code, and no tests or sources', () => {
    const pins = JSON.parse(readFileSync(path.join(prefix, 'node_modules/skiff/release-images.json'), 'utf8')) as { version: string; images: Record<string, { sha256: string }> };
    expect(pins.version).toBe(pkg.version);
    expect(pins.images['skiff-amd64.iso']?.sha256).toBe(sha256(iso));
    expect(pins.images['skiff-arm64.iso']?.sha256).toBe(sha256(readFileSync(BUILT_ISO_ARM64)));
    const files = readdirSync(path.join(prefix, 'node_modules/skiff'), { recursive: true, encoding: 'utf8' });
    expect(files).toContain(path.join('dist', 'cli', 'main.js'));
    expect(files.filter((f) => /^(test|src|bench|iso\/out)\b/.test(f))).toEqual([]);
  });

  it('a replaced asset is refused even with a SHA256SUMS that matches it: a clear error, nothing cached, no machine', async () => {
    const tampered = Buffer.from(iso);
    const mid = tampered.length >> 1;
    tampered[mid] = tampered[mid]! ^ 0xff;
    http.set(assetPath, tampered);
    http.set(sumsPath, sha256sums({ 'skiff-amd64.iso': tampered }));
    const r = await skiffInstalled(['start', '--json'], 300_000);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'checksum-mismatch', message: expect.stringMatching(/pins/) } });
    expect(r.stderr.trim().split('\n').length, r.stderr).toBeLessThanOrEqual(2); // the error and its hint
    const images = existsSync(path.join(home, '.skiff/cache')) ? readdirSync(path.join(home, '.skiff/cache'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.iso')) : [];
    expect(images).toEqual([]);
    const list = await skiffInstalled(['list', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([]);
  }, 320_000);

  it('start on a terminal downloads with a progress bar, resumes a cut connection, verifies, boots', async () => {
    http.set(assetPath, { body: iso, cutAfter: 20 << 20 });
    http.set(sumsPath, sha256sums({ 'skiff-amd64.iso': iso }));
    const before = http.requestsFor(assetPath).length;
    const r = await skiffOnTty(['start'], env, 600_000, { bin, cwd: work });
    expect(r.code, r.output.slice(-3000)).toBe(0);
    expect(r.output).toMatch(/guest image \[[#-]+\] \d+%/);
    expect(r.output).toMatch(/Machine "default" is running/);
    const asked = http.requestsFor(assetPath).slice(before);
    expect(asked[0]).toMatchObject({ status: 200 });
    expect(asked.slice(1)).toContainEqual(expect.objectContaining({ status: 206, range: expect.stringMatching(/^bytes=[1-9]\d*-$/) }));
    expect(readdirSync(path.join(home, '.skiff/cache/sha256'))).toEqual([sha256(iso)]);
  }, 620_000);

  it('docker answers through the socket shellinit names', async () => {
    const s = await skiffInstalled(['shellinit', '--shell', 'sh']);
    expect(s.code, s.stderr).toBe(0);
    const host = /DOCKER_HOST=['"]?(unix:\/\/[^'"\s;]+)/.exec(s.stdout)?.[1];
    expect(host, s.stdout).toBeDefined();
    const v = await docker(host!, ['version', '--format', '{{.Server.Os}}/{{.Server.Arch}}']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.trim()).toBe('linux/amd64');
  }, 200_000);

  it('stop ends it', async () => {
    const r = await skiffInstalled(['stop', '--json'], 300_000);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ stopped: true, wasRunning: true });
  }, 320_000);
});
