import { execa } from 'execa';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, closeSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { freePort } from '../../src/util/free-port.js';
import { BIN, skiff } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { BUILT_ISO, BUSYBOX_ROOTFS_AMD64, removeSuiteMachine, requireArtifacts, skiffOk, suiteEnv } from '../helpers/e2e.js';
import { expectClockWithinOneSecond } from '../helpers/guest-clock.js';
import { fetchLocal } from '../helpers/http-get.js';
import { pidsWithCommandLine } from '../helpers/proc.js';

/**
 * issue 20: `skiff suspend` saves a running machine and `skiff start` resumes it,
 * containers still running with their processes; a state that no longer fits
 * (config edited, image upgraded), a damaged one, and a suspend killed midway
 * all end in a working machine with its data. One cold boot, then one per case
 * that must boot cold. How fast is measured by bench/suspend.mjs, not here.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-suspend-'));
const ISO = path.join(root, 'skiff-amd64.iso');
const env = suiteEnv(root, 'susp');
const home = env.SKIFF_HOME!;
const driverDir = path.join(home, 'machines', 'default', 'driver');
const stateFile = path.join(driverDir, 'saved-state');
const share = path.join(root, 'shared dir');
let dockerHost = '';
let port = 0;

async function dockerOk(args: string[]): Promise<string> {
  const r = await docker(dockerHost, args, { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

async function status(): Promise<{ state: string; suspended?: { sizeBytes: number; savedAt: string } }> {
  return JSON.parse((await skiffOk(env, ['status', '--json'])).stdout);
}

const containerPid = () => dockerOk(['inspect', '-f', '{{.State.Pid}}', 'counter']);
const counter = async () => Number(await dockerOk(['exec', 'counter', 'busybox', 'cat', '/data/n']));

/** The counter container: a volume it writes to five times a second, and a page on a published port. */
async function runCounter(): Promise<void> {
  await dockerOk([
    'run', '-d', '--name', 'counter', '-v', 'susp-data:/data', '-p', `${port}:80`, 'susp/bb:1',
    'busybox', 'sh', '-c',
    'busybox mkdir -p /www && echo counter-page > /www/index.html && busybox httpd -p 80 -h /www && i=0; while :; do i=$((i+1)); echo $i > /data/n; busybox usleep 200000; done',
  ]);
}

async function suspend(): Promise<{ sizeBytes: number }> {
  const r = await skiffOk(env, ['suspend', '--json'], 120_000);
  return JSON.parse(r.stdout);
}

async function start(): Promise<{ resumed?: boolean; alreadyRunning: boolean; savedStateDiscarded?: string }> {
  return JSON.parse((await skiffOk(env, ['start', '--json'], 320_000)).stdout);
}

const qemus = () => pidsWithCommandLine('qemu-system', env.SKIFF_RUNTIME_DIR!);
const virtiofsds = () => pidsWithCommandLine('virtiofsd --socket-path=', env.SKIFF_RUNTIME_DIR!);
const shareFs = async () => (JSON.parse((await skiffOk(env, ['status', '--json'])).stdout) as { shares: Array<{ fs: string }> }).shares.map((s) => s.fs);
/** The file systems the guest has mounted at the share's path. */
const guestMounts = async () => (await skiffOk(env, ['ssh', '--', `grep -F ' ${share.replaceAll(' ', '\\040')} ' /proc/mounts | cut -d' ' -f3`])).stdout.trim();

beforeAll(async () => {
  requireArtifacts();
  copyFileSync(BUILT_ISO, ISO);
  mkdirSync(share);
  writeFileSync(path.join(share, 'hello'), 'before\n');
  port = await freePort('127.0.0.1');
});

afterAll(async () => {
  await removeSuiteMachine(env, [env.SKIFF_RUNTIME_DIR!]);
  rmSync(root, { recursive: true, force: true });
}, 300_000);

describe('suspend and resume', () => {
  it('boots cold, with a share, a volume, a published port and a running container', async () => {
    await skiffOk(env, ['init', '--iso', ISO, '--share', share, '--cpus', '2', '--memory', '1G', '--disk', '2G']);
    const out = await start();
    expect(out.resumed).toBeUndefined();
    // 9p, the default: the guest unmounts it for every save below (test/e2e/shares.test.ts suspends a virtiofs share).
    expect(await shareFs()).toEqual(['9p']);
    expect(await guestMounts()).toBe('9p');
    dockerHost = `unix://${JSON.parse((await skiffOk(env, ['status', '--json'])).stdout).socket}`;
    await dockerOk(['import', BUSYBOX_ROOTFS_AMD64, 'susp/bb:1']);
    await runCounter();
    expect(await counter()).toBeGreaterThan(0);
  }, 400_000);

  it('refuses while a container bind-mounts a share, naming it, and the machine serves on', async () => {
    await dockerOk(['run', '-d', '--name', 'sharer', '-v', `${share}:/s`, 'susp/bb:1', 'busybox', 'sleep', '3600']);
    const r = await skiff(['suspend'], env, 120_000);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/cannot suspend machine "default": sharer uses a shared folder/);
    expect((await status()).state).toBe('running');
    expect(await dockerOk(['exec', 'sharer', 'busybox', 'cat', '/s/hello'])).toBe('before');
    await dockerOk(['rm', '-f', 'sharer']);
  }, 120_000);

  it('suspends: status and list say so with the size, the state is the user\u2019s alone, stop keeps it', async () => {
    const pidBefore = await containerPid();
    const n = await counter();
    const s = await suspend();
    expect(s.sizeBytes).toBeGreaterThan(1_000_000);
    const st = await status();
    expect(st.state).toBe('suspended');
    expect(st.suspended?.sizeBytes).toBe(statSync(stateFile).size);
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    const list = JSON.parse((await skiffOk(env, ['list', '--json'])).stdout) as Array<{ state: string; suspended?: unknown }>;
    expect(list[0]).toMatchObject({ state: 'suspended', suspended: { sizeBytes: s.sizeBytes } });
    expect(qemus()).toHaveLength(0);
    expect(virtiofsds()).toHaveLength(0);
    expect((await docker(dockerHost, ['version'], { timeoutMs: 30_000 })).code).not.toBe(0);
    // A plain stop leaves it suspended.
    const stop = JSON.parse((await skiffOk(env, ['stop', '--json'])).stdout);
    expect(stop).toMatchObject({ wasRunning: false, suspended: 'kept' });
    expect((await status()).state).toBe('suspended');
    // The host's copy changes while the machine sleeps; the share shows it after the resume.
    writeFileSync(path.join(share, 'hello'), 'after\n');

    const out = await start();
    expect(out.resumed).toBe(true);
    expect(await containerPid()).toBe(pidBefore);
    const n1 = await counter();
    expect(n1).toBeGreaterThanOrEqual(n);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await counter()).toBeGreaterThan(n1);
    expect(await fetchLocal(port)).toEqual({ status: 200, body: 'counter-page\n' });
    expect((await skiffOk(env, ['ssh', '--', `cat '${share}/hello'`])).stdout).toBe('after\n');
    expect(await guestMounts()).toBe('9p');
    await expectClockWithinOneSecond(dockerHost, 'susp/bb:1');
    expect(existsSync(stateFile)).toBe(false);
    expect(qemus()).toHaveLength(1);
  }, 300_000);

  it('a suspend killed while it saves: start lets the same VM go on, shares back, no stale state', async () => {
    const pidBefore = await containerPid();
    const partial = `${stateFile}.partial`;
    const child = execa(process.execPath, [BIN, 'suspend'], { env: { ...process.env, ...env }, reject: false });
    let seen = false;
    for (let i = 0; i < 3000 && !seen; i++) {
      seen = existsSync(partial);
      if (!seen) await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await child;
    expect(seen).toBe(true);
    const out = await start();
    expect(out.resumed).toBeUndefined();
    expect(await containerPid()).toBe(pidBefore);
    expect((await skiffOk(env, ['ssh', '--', `cat '${share}/hello'`])).stdout).toBe('after\n');
    // The killed save had unmounted the share: start mounted it again.
    expect(await guestMounts()).toBe('9p');
    expect(existsSync(stateFile)).toBe(false);
    expect(existsSync(partial)).toBe(false);
    expect(qemus()).toHaveLength(1);
  }, 300_000);

  it('a damaged state: start says so and boots cold, and what was written before the suspend is there', async () => {
    await dockerOk(['exec', 'counter', 'busybox', 'sh', '-c', 'echo written-before-suspend > /data/marker']);
    await suspend();
    const size = statSync(stateFile).size;
    const fd = openSync(stateFile, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, Math.floor(size / 2));
    closeSync(fd);
    const out = await start();
    expect(out.resumed).toBeUndefined();
    expect(out.savedStateDiscarded).toBe('is damaged (its checksum does not match)');
    expect(await dockerOk(['run', '--rm', '-v', 'susp-data:/data', 'susp/bb:1', 'busybox', 'cat', '/data/marker'])).toBe('written-before-suspend');
    expect(qemus()).toHaveLength(1);
    await dockerOk(['rm', '-f', 'counter']);
    await runCounter();
  }, 400_000);

  it('an image upgraded since the save: start boots cold and says why', async () => {
    await suspend();
    const rebuilt = path.join(root, 'skiff-amd64-rebuilt.iso');
    copyFileSync(ISO, rebuilt);
    appendFileSync(rebuilt, Buffer.alloc(2048));
    const up = JSON.parse((await skiffOk(env, ['upgrade', '--iso', rebuilt, '--json'], 300_000)).stdout);
    expect(up).toMatchObject({ changed: true, wasRunning: false });
    expect((await status()).state).toBe('suspended');
    const out = await start();
    expect(out.resumed).toBeUndefined();
    expect(out.savedStateDiscarded).toBe('no longer matches the guest image, which changed after the save');
    expect((await status()).state).toBe('running');
    await dockerOk(['rm', '-f', 'counter']);
    await runCounter();
  }, 500_000);

  it('a config edited since the save: start boots cold and names the setting', async () => {
    await suspend();
    const cfgFile = path.join(home, 'machines', 'default', 'config.yaml');
    const cfg = YAML.parse(readFileSync(cfgFile, 'utf8')) as { memoryMiB: number };
    expect(cfg.memoryMiB).toBe(1024);
    writeFileSync(cfgFile, YAML.stringify({ ...cfg, memoryMiB: 1152 }));
    // Without --json a script still hears why, on stderr.
    const r = await skiffOk(env, ['start'], 320_000);
    expect(r.stderr).toMatch(/the saved state of machine "default" was saved with other VM settings \(1024 then, 1152 now\): starting it cold instead/);
    expect(await dockerOk(['run', '--rm', '-v', 'susp-data:/data', 'susp/bb:1', 'busybox', 'cat', '/data/marker'])).toBe('written-before-suspend');
  }, 400_000);

  it('stop --force discards a saved state; the next start is cold', async () => {
    await suspend();
    const stop = JSON.parse((await skiffOk(env, ['stop', '--force', '--json'])).stdout);
    expect(stop).toMatchObject({ wasRunning: false, suspended: 'discarded' });
    expect((await status()).state).toBe('stopped');
    expect(existsSync(stateFile)).toBe(false);
    expect(existsSync(`${stateFile}.json`)).toBe(false);
    // suspend on a stopped machine is a clear refusal.
    const r = await skiff(['suspend'], env);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/machine "default" is stopped, not running: there is nothing to suspend/);
  }, 120_000);
});
