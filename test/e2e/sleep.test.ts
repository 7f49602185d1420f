import { execa } from 'execa';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qmpOnce } from '../../src/drivers/qemu/qmp.js';
import { skiff } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { containerClock as readContainerClock, expectClockWithinOneSecond as expectGuestClock } from '../helpers/guest-clock.js';
import { BUILT_ISO, BUSYBOX_ROOTFS_AMD64, removeSuiteMachine, requireArtifacts } from '../helpers/e2e.js';
import { pidsWithCommandLine } from '../helpers/proc.js';

/**
 * issue 18: a paused VM (QMP stop/cont) and a frozen host (SIGSTOP of QEMU, the
 * agent and its supervisor) both come back by themselves: docker answers and
 * the guest's clock is within 1 s of the host's, for a pause shorter than the
 * keepalive's patience and one longer (QEMU says the VM is paused: the link is
 * held; a silent guest whose VM runs is rebuilt, test/integration/agent-pause).
 * How fast is measured by bench/sleep.mjs, not asserted here.
 * Then both disks fill: the machine's home (and so its data disk) lives on a
 * tmpfs of its own, so the host side fills without touching the real disk.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-sleep-'));
const ISO = path.join(root, 'skiff-amd64.iso');
const home = path.join(root, 'home');
const HOME_FS_SIZE = '4g';
const env: NodeJS.ProcessEnv = {
  SKIFF_HOME: home,
  SKIFF_RUNTIME_DIR: path.join('/tmp', `sk-sleep-${process.pid}`),
  DOCKER_CONFIG: path.join(root, 'docker-config'),
};
let dockerHost = '';
let runDir = '';

async function dockerOk(args: string[]): Promise<string> {
  const r = await docker(dockerHost, args, { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const expectClockWithinOneSecond = () => expectGuestClock(dockerHost, 'sleep/bb:1');
const containerClock = () => readContainerClock(dockerHost, 'sleep/bb:1');

async function pauseVm(ms: number): Promise<string> {
  const qmp = path.join(runDir, 'qmp.sock');
  await qmpOnce(qmp, 'stop');
  // A docker command issued while the VM is paused waits for it, then completes.
  const during = docker(dockerHost, ['version', '--format', '{{.Server.Version}}'], { timeoutMs: 300_000 });
  await new Promise((r) => setTimeout(r, ms));
  await qmpOnce(qmp, 'cont');
  const r = await during;
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

function pid(file: string): number {
  return Number(readFileSync(path.join(runDir, file), 'utf8').trim());
}

beforeAll(async () => {
  requireArtifacts();
  copyFileSync(BUILT_ISO, ISO);
  mkdirSync(home);
  // A file system of its own for the machine's home (CI runs as root, as mount needs).
  await execa('mount', ['-t', 'tmpfs', '-o', `size=${HOME_FS_SIZE},mode=0700`, 'skiff-sleep-home', home]);
});

afterAll(async () => {
  await removeSuiteMachine(env, [env.SKIFF_RUNTIME_DIR!]);
  await execa('umount', [home], { reject: false });
  rmSync(root, { recursive: true, force: true });
}, 300_000);

describe('sleep and resume', () => {
  it('boots, and the guest clock starts on the host clock', async () => {
    let r = await skiff(['init', '--iso', ISO, '--no-shares', '--cpus', '2', '--memory', '1G', '--disk', '2G'], env);
    expect(r.code, r.stderr).toBe(0);
    r = await skiff(['start', '--json'], env, 320_000);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { socket: string };
    runDir = path.dirname(out.socket);
    dockerHost = `unix://${out.socket}`;
    await dockerOk(['import', BUSYBOX_ROOTFS_AMD64, 'sleep/bb:1']);
    // Set the guest clock a minute wrong and let the link's next sync find it.
    r = await skiff(['ssh', '--', `date -u -s @$(( $(date +%s) - 60 )) >/dev/null`], env);
    expect(r.code, r.stderr).toBe(0);
    const c = await containerClock();
    expect(c.guest).toBeLessThan(c.t0 - 30_000);
    // An agent that did not run for a while (as after a host sleep) resyncs at once.
    process.kill(pid('agent.pid'), 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 4_000));
    process.kill(pid('agent.pid'), 'SIGCONT');
    await expectClockWithinOneSecond();
  }, 400_000);

  it('a short VM pause (the link survives): a command issued meanwhile completes, the clock comes back', async () => {
    expect(await pauseVm(8_000)).toMatch(/^\d+\./);
    await expectClockWithinOneSecond();
  }, 300_000);

  it('a pause longer than the keepalive (QEMU says paused, so the link is held): the same', async () => {
    expect(await pauseVm(60_000)).toMatch(/^\d+\./);
    await expectClockWithinOneSecond();
    const log = readFileSync(path.join(env.SKIFF_HOME!, 'machines/default/agent.log'), 'utf8');
    expect(log).toMatch(/its VM is paused: holding the link until it runs again/);
    expect(log).toMatch(/the link held through the pause/);
    expect(log).toMatch(/guest clock was [+-]\d+\.\d+ s off the host's/);
  }, 300_000);

  it('a frozen host (QEMU, agent and supervisor stopped): docker answers and the clock is right after SIGCONT', async () => {
    const spec = path.join(runDir, 'agent.spec.json');
    const frozen = [pid('qemu.pid'), ...pidsWithCommandLine(spec)];
    expect(frozen.length).toBeGreaterThanOrEqual(3);
    for (const p of frozen) process.kill(p, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 60_000));
    for (const p of frozen) process.kill(p, 'SIGCONT');
    expect((await dockerOk(['version', '--format', '{{.Server.Version}}'])).trim()).toMatch(/^\d+\./);
    await expectClockWithinOneSecond();
  }, 300_000);

  it('the host disk fills: the VM pauses (status and list say why), goes on by itself once there is space, data intact', async () => {
    const SIZE = 256 * 1024 * 1024;
    const write = `yes skiff-host-full | head -c ${SIZE}`;
    const expected = (await dockerOk(['run', '--rm', 'sleep/bb:1', 'sh', '-c', `${write} | sha256sum`])).split(' ')[0];
    // Leave the data disk 64 MiB to grow into, then make the guest write four times that.
    const st = statfsSync(home);
    const ballast = path.join(home, 'ballast');
    await execa('fallocate', ['-l', String(st.bavail * st.bsize - 64 * 1024 * 1024), ballast]);
    const writing = docker(dockerHost, ['run', '--rm', '-v', 'full:/data', 'sleep/bb:1', 'sh', '-c', `${write} > /data/f && sync`], { timeoutMs: 600_000 });

    let status: { state: string; paused?: { reason: string; detail: string } } = { state: '' };
    for (let i = 0; i < 120 && status.paused?.reason !== 'host-disk-full'; i++) {
      await new Promise((r) => setTimeout(r, 1_000));
      status = JSON.parse((await skiff(['status', '--json'], env)).stdout);
    }
    expect(status.state).toBe('paused');
    expect(status.paused?.reason).toBe('host-disk-full');
    expect(status.paused?.detail).toContain(path.join(home, 'machines/default'));
    const list = JSON.parse((await skiff(['list', '--json'], env)).stdout) as Array<{ state: string; pausedFor?: string }>;
    expect(list[0]).toMatchObject({ state: 'paused', pausedFor: 'host-disk-full' });
    // Neither start nor stop may lose the writes the guest is waiting to make.
    let r = await skiff(['start'], env);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/host disk holding .* is full/);
    r = await skiff(['stop'], env);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/paused on a full host disk/);

    rmSync(ballast);
    const w = await writing;
    expect(w.code, w.stderr).toBe(0);
    expect((JSON.parse((await skiff(['status', '--json'], env)).stdout) as { state: string }).state).toBe('running');
    const log = readFileSync(path.join(home, 'machines/default/agent.log'), 'utf8');
    expect(log).toMatch(/free again: resuming the VM/);
    // Read back from the disk, not from the guest's page cache.
    r = await skiff(['ssh', '--', 'sync; echo 3 > /proc/sys/vm/drop_caches'], env);
    expect(r.code, r.stderr).toBe(0);
    const got = (await dockerOk(['run', '--rm', '-v', 'full:/data', 'sleep/bb:1', 'sh', '-c', 'sha256sum /data/f'])).split(' ')[0];
    expect(got).toBe(expected);
  }, 600_000);

  it("the guest's data disk fills: the engine's no-space error, the engine stays up, status shows the use, prune frees it", async () => {
    await dockerOk(['volume', 'rm', 'full']);
    const fill = await docker(dockerHost, ['run', '--name', 'filler', 'sleep/bb:1', 'sh', '-c', 'dd if=/dev/zero of=/big bs=1M; sync'], { timeoutMs: 600_000 });
    expect(fill.stderr + fill.stdout).toMatch(/No space left on device/);
    // The engine itself cannot write a new image, and says why.
    const imp = await docker(dockerHost, ['import', BUSYBOX_ROOTFS_AMD64, 'sleep/bb:2'], { timeoutMs: 300_000 });
    expect(imp.code).not.toBe(0);
    expect(imp.stderr).toMatch(/no space left on device/i);
    expect((await dockerOk(['version', '--format', '{{.Server.Version}}'])).trim()).toMatch(/^\d+\./);
    type Status = { dataDisk?: { usedBytes: number; sizeBytes: number; availableBytes: number } };
    const full = JSON.parse((await skiff(['status', '--json'], env)).stdout) as Status;
    expect(full.dataDisk?.availableBytes).toBeLessThan(16 * 1024 * 1024);
    expect(full.dataDisk!.usedBytes / full.dataDisk!.sizeBytes).toBeGreaterThan(0.9);
    expect((await skiff(['status'], env)).stdout).toMatch(/^Disk: +2 GiB, .* used \(\d+%\), FULL$/m);

    await dockerOk(['rm', 'filler']);
    await dockerOk(['system', 'prune', '-f']);
    expect((await dockerOk(['run', '--rm', 'sleep/bb:1', 'echo', 'room again'])).trim()).toBe('room again');
    const after = JSON.parse((await skiff(['status', '--json'], env)).stdout) as Status;
    expect(after.dataDisk!.availableBytes).toBeGreaterThan(1024 * 1024 * 1024);
  }, 600_000);

  it('suspend with no room on the host for the state: refused, the machine runs on, nothing saved (issue 20)', async () => {
    // Nothing left dirty in the guest, so the flush before the save needs no new room.
    expect((await skiff(['ssh', '--', 'sync'], env)).code).toBe(0);
    const st = statfsSync(home);
    const ballast = path.join(home, 'ballast');
    await execa('fallocate', ['-l', String(st.bavail * st.bsize - 16 * 1024 * 1024), ballast]);
    try {
      const r = await skiff(['suspend'], env, 300_000);
      expect(r.code, r.stderr).toBe(5);
      expect(r.stderr).toMatch(/no room to save the VM's state: the host disk holding .* is full \(\d+ MiB free\); the machine runs on/);
    } finally {
      rmSync(ballast);
    }
    expect((JSON.parse((await skiff(['status', '--json'], env)).stdout) as { state: string }).state).toBe('running');
    expect((await dockerOk(['version', '--format', '{{.Server.Version}}'])).trim()).toMatch(/^\d+\./);
    const driverDir = path.join(home, 'machines/default/driver');
    expect(readdirSync(driverDir).filter((f) => f.startsWith('saved-state'))).toEqual([]);
  }, 600_000);

  it('after all that, the stopped data disk has no errors', async () => {
    const r = await skiff(['stop'], env, 120_000);
    expect(r.code, r.stderr).toBe(0);
    const check = await execa('qemu-img', ['check', path.join(home, 'machines/default/driver/data.qcow2')], { reject: false });
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/No errors were found on the image/);
  }, 180_000);
});
