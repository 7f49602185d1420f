import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QemuDriver } from '../../src/drivers/qemu/driver.js';
import { qmpOnce } from '../../src/drivers/qemu/qmp.js';
import type { MachineSpec } from '../../src/drivers/driver.js';
import { machinePaths } from '../../src/layout/paths.js';
import { buildSeed, SEED_MAGIC } from '../../src/guest/seed.js';
import { SkiffError } from '../../src/errors.js';
import { isProcessAlive } from '../../src/util/process-alive.js';
import { freePort } from '../../src/util/free-port.js';
import { makeIso, multibootStub } from '../helpers/qemu-fixtures.js';

/**
 * The driver against real qemu-img and qemu-system-x86_64. The guest is a
 * 70-byte multiboot kernel (see multibootStub), so no real image is needed:
 * every host-side part runs for real, only the guest is trivial.
 */

let work: string;
let runRoot: string;
let spec: MachineSpec;
let driver: QemuDriver;
let seed: Buffer;
const startedPids = new Set<number>();
const savedRuntimeDir = process.env.SKIFF_RUNTIME_DIR;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'skiff-qemu-it-'));
  // Short on purpose: the QMP socket lives here.
  runRoot = await mkdtemp('/tmp/skq-');
  process.env.SKIFF_RUNTIME_DIR = runRoot;
  const home = path.join(work, 'home');
  const paths = machinePaths(home, 'itest');
  await mkdir(paths.dir, { recursive: true });
  seed = await buildSeed({
    authorizedKeys: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE test',
    hostKeyPrivate: '-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n',
    hostKeyPublic: 'ssh-ed25519 AAAA host',
    settings: { HOSTNAME: 'itest' },
  });
  await writeFile(paths.seed, seed);
  const iso = await makeIso(path.join(work), {
    'boot/vmlinuz': multibootStub(),
    'boot/initrd.img': Buffer.alloc(4096, 7),
    'boot/cmdline': 'console=ttyS0\n',
    'boot/version': 'stub 1\n',
  });
  // A cached verdict, so this suite does not spend the accelerator probe's timeout on a stub kernel
  // (qemu-accel.test.ts covers the probe itself).
  const { stdout } = await execa('qemu-system-x86_64', ['--version']);
  const version = /version (\d+\.\d+(?:\.\d+)?)/.exec(stdout)![1];
  await mkdir(path.join(home, 'cache'), { recursive: true });
  await writeFile(
    path.join(home, 'cache', 'accel.json'),
    JSON.stringify({
      [`qemu-system-x86_64@${version}/kvm`]: { ok: false, reason: 'KVM failed its check (test)', checkedAt: new Date().toISOString() },
    }),
  );
  const share = path.join(work, 'share');
  await mkdir(share);
  spec = {
    name: 'itest',
    paths,
    cpus: 1,
    memoryMiB: 128,
    diskGiB: 2,
    arch: 'x86_64',
    isoPath: iso,
    shares: [{ hostPath: share, guestPath: '/share', readOnly: true, tag: 'share0' }],
  };
  driver = new QemuDriver(spec);
});

afterAll(async () => {
  for (const pid of startedPids) {
    if (isProcessAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  if (savedRuntimeDir === undefined) delete process.env.SKIFF_RUNTIME_DIR;
  else process.env.SKIFF_RUNTIME_DIR = savedRuntimeDir;
  await rm(work, { recursive: true, force: true });
  await rm(runRoot, { recursive: true, force: true });
});

async function pidOf(): Promise<number> {
  const pid = Number((await readFile(driver.pidFile, 'utf8')).trim());
  startedPids.add(pid);
  return pid;
}

/** Local address of the LISTEN socket on `port`, from /proc/net/tcp{,6} (hex "0100007F" is 127.0.0.1). */
async function listenAddresses(port: number): Promise<string[]> {
  const out: string[] = [];
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(f, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [addr, p] = (cols[1] ?? '').split(':');
      if (p === hexPort && cols[3] === '0A') out.push(addr ?? '');
    }
  }
  return out;
}

async function sha(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

describe('QemuDriver on real QEMU', () => {
  it('passes check() with QEMU installed', async () => {
    await expect(driver.check()).resolves.toBeUndefined();
    expect(await driver.state()).toBe('not-created');
  });

  it('create() makes a qcow2 data disk of the asked size that starts with the seed', async () => {
    await driver.create();
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', driver.dataDisk])).stdout) as {
      format: string;
      'virtual-size': number;
    };
    expect(info.format).toBe('qcow2');
    expect(info['virtual-size']).toBe(2 * 1024 ** 3);
    const head = path.join(work, 'head.raw');
    await execa('qemu-img', ['dd', '-f', 'qcow2', '-O', 'raw', 'bs=512', `count=${Math.ceil(seed.length / 512) + 1}`, `if=${driver.dataDisk}`, `of=${head}`]);
    const bytes = await readFile(head);
    expect(bytes.subarray(0, seed.length).equals(seed)).toBe(true);
    expect(bytes.subarray(0, SEED_MAGIC.length).toString()).toBe(SEED_MAGIC);
    expect(bytes.subarray(seed.length).every((b) => b === 0)).toBe(true);
    const boot = path.join(spec.paths.driverDir, 'boot');
    expect((await readFile(path.join(boot, 'vmlinuz'))).equals(multibootStub())).toBe(true);
    expect(await readFile(path.join(boot, 'cmdline'), 'utf8')).toBe('console=ttyS0\n');
    // No temp files left next to the disk.
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(spec.paths.driverDir)).filter((n) => n.includes('.tmp'))).toEqual([]);
    expect(await driver.state()).toBe('stopped');
  });

  it('create() on an existing disk refuses and leaves the disk untouched', async () => {
    const before = await sha(driver.dataDisk);
    const e = await driver.create().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SkiffError);
    expect((e as SkiffError).code).toBe('disk-exists');
    expect(await sha(driver.dataDisk)).toBe(before);
  });

  let firstPort = 0;
  let firstPid = 0;
  it('start() boots QEMU detached, tells why it is slow, and forwards SSH on 127.0.0.1 only', async () => {
    const notices: string[] = [];
    const ep = await driver.start({ notice: (m) => notices.push(m) });
    firstPid = await pidOf();
    firstPort = ep.port;
    expect(ep.host).toBe('127.0.0.1');
    expect(notices).toEqual([expect.stringMatching(/KVM failed its check \(test\); running under TCG/)]);
    expect(isProcessAlive(firstPid)).toBe(true);
    expect(await driver.state()).toBe('running');
    expect(await qmpOnce<{ status: string }>(driver.qmpSocket, 'query-status')).toMatchObject({ status: 'running' });
    expect(await listenAddresses(ep.port)).toEqual(['0100007F']);
    expect(await driver.sshEndpoint()).toEqual(ep);
    const st = JSON.parse(await readFile(path.join(spec.paths.driverDir, 'state.json'), 'utf8')) as Record<string, unknown>;
    expect(st).toMatchObject({ pid: firstPid, sshPort: ep.port, accel: 'tcg' });
    expect((await stat(spec.paths.runDir)).mode & 0o777).toBe(0o700);
    expect(await driver.info()).toMatchObject({ accelerator: 'tcg', pid: firstPid, version: expect.stringMatching(/^\d+\.\d+/) });
    const cmdline = (await readFile(`/proc/${firstPid}/cmdline`, 'utf8')).split('\0');
    // The share travels on 9p unless virtiofs is asked for (SKIFF_SHARE_FS); the run state records which.
    expect(st.shareFs).toBe('9p');
    expect((await driver.info()).shareFs).toBe('9p');
    expect(cmdline).toContain(`local,path=${path.join(work, 'share')},mount_tag=share0,security_model=none,readonly=on`);
    // The serial console is wired to the console log: the stub kernel printed there.
    await expect.poll(async () => readFile(spec.paths.consoleLog, 'utf8').catch(() => ''), { timeout: 20_000 }).toContain('SKIFF-STUB');
  });

  it('start() on a running machine returns the same endpoint and boots nothing', async () => {
    const ep = await driver.start();
    expect(ep).toEqual({ host: '127.0.0.1', port: firstPort });
    expect(await pidOf()).toBe(firstPid);
  });

  it('setImage() refuses while the machine runs', async () => {
    const e = await driver.setImage(spec.isoPath).catch((x: unknown) => x);
    expect((e as SkiffError).code).toBe('machine-running');
  });

  it('stop() tries ACPI, then quits after the timeout when the guest ignores it', async () => {
    await driver.stop({ timeoutMs: 1500 });
    expect(await driver.state()).toBe('stopped');
    await expect.poll(() => isProcessAlive(firstPid), { timeout: 10_000 }).toBe(false);
    await expect(stat(driver.pidFile)).rejects.toThrow(/ENOENT/);
    await expect(stat(driver.qmpSocket)).rejects.toThrow(/ENOENT/);
    expect(await driver.sshEndpoint()).toBeUndefined();
    // No virtiofsd (nor its socket or pid file) outlives its QEMU.
    expect((await readdir(spec.paths.runDir)).filter((f) => f.startsWith('vfs'))).toEqual([]);
    // Idempotent.
    await expect(driver.stop()).resolves.toBeUndefined();
  });

  it('a QEMU killed with SIGKILL reads as stopped; state() leaves its files, stop() (under the lock) cleans them', async () => {
    await driver.start();
    const pid = await pidOf();
    // The previous boot's console is kept once.
    expect(await readFile(`${spec.paths.consoleLog}.1`, 'utf8')).toContain('SKIFF-STUB');
    process.kill(pid, 'SIGKILL');
    await expect.poll(() => isProcessAlive(pid), { timeout: 10_000 }).toBe(false);
    expect(await stat(driver.pidFile).then(() => true)).toBe(true);
    expect(await driver.state()).toBe('stopped');
    // status runs without the machine lock: it must not remove what a racing start may have just written.
    expect(await stat(driver.pidFile).then(() => true)).toBe(true);
    await driver.stop();
    await expect(stat(driver.pidFile)).rejects.toThrow(/ENOENT/);
    await expect(stat(path.join(spec.paths.driverDir, 'state.json'))).rejects.toThrow(/ENOENT/);
  });

  it('a pid file naming an unrelated live process is not trusted', async () => {
    await mkdir(spec.paths.runDir, { recursive: true });
    await writeFile(driver.pidFile, `${process.pid}\n`);
    expect(await driver.state()).toBe('stopped');
    await driver.stop();
    await expect(stat(driver.pidFile)).rejects.toThrow(/ENOENT/);
    expect(isProcessAlive(process.pid)).toBe(true);
  });

  it('a QEMU that fails to start is a SkiffError with its message, and leaves no runtime files', async () => {
    const missingShare = { ...spec, shares: [{ hostPath: path.join(work, 'no-such-dir'), guestPath: '/x', readOnly: false, tag: 'x' }] };
    // 9p, the default: QEMU itself refuses the missing folder.
    const e = await new QemuDriver(missingShare).start().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SkiffError);
    expect((e as SkiffError).message).toMatch(/^QEMU failed to start machine itest: .*no-such-dir/);
    expect(await driver.state()).toBe('stopped');
    await expect(stat(driver.pidFile)).rejects.toThrow(/ENOENT/);
    await expect(stat(path.join(spec.paths.driverDir, 'state.json'))).rejects.toThrow(/ENOENT/);
    // virtiofs, asked for where this host runs it (CI runs as root, for whom it does): its virtiofsd refuses first, and says so.
    process.env.SKIFF_SHARE_FS = 'virtiofs';
    const broken = new QemuDriver(missingShare);
    if ((await broken.info()).shareFs === 'virtiofs') {
      const v = await broken.start().catch((x: unknown) => x).finally(() => delete process.env.SKIFF_SHARE_FS);
      expect(v).toBeInstanceOf(SkiffError);
      expect((v as SkiffError).message).toMatch(/^virtiofsd for .*no-such-dir did not start/);
      expect((await readdir(spec.paths.runDir)).filter((f) => f.startsWith('vfs'))).toEqual([]);
      await expect(stat(driver.pidFile)).rejects.toThrow(/ENOENT/);
    }
    delete process.env.SKIFF_SHARE_FS;
  });

  it('start() retries with another port when QEMU cannot bind the one it was given', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const busyPort = (busy.address() as net.AddressInfo).port;
    const offered: number[] = [];
    const racing = new QemuDriver(spec, {
      pickPort: async () => {
        const p = offered.length === 0 ? busyPort : await freePort();
        offered.push(p);
        return p;
      },
    });
    try {
      const ep = await racing.start();
      await pidOf();
      expect(offered.length).toBe(2);
      expect(ep.port).toBe(offered[1]);
      expect(ep.port).not.toBe(busyPort);
      expect(await racing.sshEndpoint()).toEqual(ep);
    } finally {
      await racing.stop({ force: true });
      await new Promise((r) => busy.close(r));
    }
  });

  it('stop({force}) skips ACPI and leaves nothing behind', async () => {
    await driver.start();
    const pid = await pidOf();
    await driver.stop({ force: true, timeoutMs: 600_000 });
    // It has exited; its reaper (init) may take a moment to collect it.
    await expect.poll(() => isProcessAlive(pid), { timeout: 10_000 }).toBe(false);
    expect(await driver.state()).toBe('stopped');
    await expect(stat(driver.qmpSocket)).rejects.toThrow(/ENOENT/);
  });

  it('setImage() re-extracts the kernel files of another image', async () => {
    const dir = await mkdtemp(path.join(work, 'iso2-'));
    const iso2 = await makeIso(dir, {
      'boot/vmlinuz': multibootStub(),
      'boot/initrd.img': 'x',
      'boot/cmdline': 'console=ttyS0 v=2\n',
      'boot/version': 'stub 2\n',
    });
    await driver.setImage(iso2);
    expect(await readFile(path.join(spec.paths.driverDir, 'boot', 'version'), 'utf8')).toBe('stub 2\n');
    expect(await readFile(path.join(spec.paths.driverDir, 'boot', 'cmdline'), 'utf8')).toBe('console=ttyS0 v=2\n');
    // A broken image leaves the previous kernel files in place.
    const bad = path.join(dir, 'bad.iso');
    await writeFile(bad, Buffer.alloc(40_000));
    await expect(driver.setImage(bad)).rejects.toThrow(/not an ISO image/);
    expect(await readFile(path.join(spec.paths.driverDir, 'boot', 'version'), 'utf8')).toBe('stub 2\n');
  });

  it('remove() stops a running machine and deletes everything the driver made', async () => {
    await driver.start();
    const pid = await pidOf();
    await driver.remove();
    await expect.poll(() => isProcessAlive(pid), { timeout: 10_000 }).toBe(false);
    await expect(stat(spec.paths.driverDir)).rejects.toThrow(/ENOENT/);
    await expect(stat(driver.qmpSocket)).rejects.toThrow(/ENOENT/);
    expect(await driver.state()).toBe('not-created');
    await expect(driver.remove()).resolves.toBeUndefined();
  });
});

describe('QemuDriver.create() failures', () => {
  it('leaves nothing behind when the seed is missing', async () => {
    const home = path.join(work, 'home-noseed');
    const paths = machinePaths(home, 'noseed');
    const d = new QemuDriver({ ...spec, name: 'noseed', paths });
    const e = await d.create().catch((x: unknown) => x);
    expect((e as SkiffError).code).toBe('seed-missing');
    await expect(stat(paths.driverDir)).rejects.toThrow(/ENOENT/);
  });

  it('leaves nothing behind when the image is not an ISO', async () => {
    const home = path.join(work, 'home-badiso');
    const paths = machinePaths(home, 'badiso');
    await mkdir(paths.dir, { recursive: true });
    await writeFile(paths.seed, seed);
    const bad = path.join(work, 'not-an.iso');
    await writeFile(bad, 'hello');
    const d = new QemuDriver({ ...spec, name: 'badiso', paths, isoPath: bad });
    await expect(d.create()).rejects.toThrow(/not an ISO image/);
    await expect(stat(paths.driverDir)).rejects.toThrow(/ENOENT/);
  });
});
