import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAdjtimex } from '../../src/agent/clock.js';
import { qmpOnce } from '../../src/drivers/qemu/qmp.js';
import { skiff } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { BUILT_ISO, BUSYBOX_ROOTFS_AMD64, removeSuiteMachine, requireArtifacts } from '../helpers/e2e.js';
import { pidsWithCommandLine } from '../helpers/proc.js';

/**
 * issue 18: a paused VM (QMP stop/cont) and a frozen host (SIGSTOP of QEMU, the
 * agent and its supervisor) both come back by themselves: docker answers and
 * the guest's clock is within 1 s of the host's, for a pause shorter than the
 * keepalive's patience (the link survives) and one longer (the link is rebuilt).
 * How fast is measured by bench/sleep.mjs, not asserted here.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-sleep-'));
const ISO = path.join(root, 'skiff-amd64.iso');
const env: NodeJS.ProcessEnv = {
  SKIFF_HOME: path.join(root, 'home'),
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

/**
 * Reads the guest's clock from inside a container. The reading was taken somewhere
 * between t0 and t1 on the host: a clock within 1 s of the host's reads within
 * [t0 - 1 s, t1 + 1 s]; anything outside that proves it is off by more.
 */
async function containerClock(): Promise<{ guest: number; t0: number; t1: number }> {
  const t0 = Date.now();
  const out = await dockerOk(['run', '--rm', 'sleep/bb:1', 'busybox', 'adjtimex']);
  const t1 = Date.now();
  return { guest: parseAdjtimex(out).ms, t0, t1 };
}

async function expectClockWithinOneSecond(): Promise<void> {
  // The agent steps the clock when the guest runs again (its step waits for a
  // whole second): a reading is retried a few times, then must be within bounds.
  let c = await containerClock();
  for (let i = 0; i < 5 && (c.guest < c.t0 - 1_000 || c.guest > c.t1 + 1_000); i++) {
    await new Promise((r) => setTimeout(r, 2_000));
    c = await containerClock();
  }
  expect(c.guest).toBeGreaterThanOrEqual(c.t0 - 1_000);
  expect(c.guest).toBeLessThanOrEqual(c.t1 + 1_000);
}

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

beforeAll(() => {
  requireArtifacts();
  copyFileSync(BUILT_ISO, ISO);
});

afterAll(async () => {
  await removeSuiteMachine(env, [root, env.SKIFF_RUNTIME_DIR!]);
}, 300_000);

describe('sleep and resume', () => {
  it('boots, and the guest clock starts on the host clock', async () => {
    let r = await skiff(['init', '--iso', ISO, '--no-shares', '--cpus', '2', '--memory', '1G', '--disk', '4G'], env);
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

  it('a pause longer than the keepalive (the link is rebuilt): the same', async () => {
    expect(await pauseVm(30_000)).toMatch(/^\d+\./);
    await expectClockWithinOneSecond();
    const log = readFileSync(path.join(env.SKIFF_HOME!, 'machines/default/agent.log'), 'utf8');
    expect(log).toMatch(/ssh reconnecting/);
    expect(log).toMatch(/guest clock was [+-]\d+\.\d+ s off the host's/);
  }, 300_000);

  it('a frozen host (QEMU, agent and supervisor stopped): docker answers and the clock is right after SIGCONT', async () => {
    const spec = path.join(runDir, 'agent.spec.json');
    const frozen = [pid('qemu.pid'), ...pidsWithCommandLine(spec)];
    expect(frozen.length).toBeGreaterThanOrEqual(3);
    for (const p of frozen) process.kill(p, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 20_000));
    for (const p of frozen) process.kill(p, 'SIGCONT');
    expect((await dockerOk(['version', '--format', '{{.Server.Version}}'])).trim()).toMatch(/^\d+\./);
    await expectClockWithinOneSecond();
  }, 300_000);
});
