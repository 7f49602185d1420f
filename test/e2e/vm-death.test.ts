import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skiff } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { BUILT_ISO, removeSuiteMachine, requireArtifacts } from '../helpers/e2e.js';
import { alive, pidsWithCommandLine, waitGone } from '../helpers/proc.js';

/**
 * issue 26: a VM that dies under skiff. One machine, booted twice: a guest panic
 * (the guest reboots 5 s later, QEMU lives on) is not a death; a QEMU killed -9 is
 * noticed by its agent, which exits with its supervisor and leaves no socket;
 * status and list say `crashed`, start recovers and says so; a second kill, then
 * `delete` in one step leaves nothing.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-vmd-'));
const env: NodeJS.ProcessEnv = {
  SKIFF_HOME: path.join(root, 'home'),
  SKIFF_RUNTIME_DIR: path.join('/tmp', `sk-vmd-${process.pid}`),
  DOCKER_CONFIG: path.join(root, 'docker-config'),
};
const machineDir = path.join(env.SKIFF_HOME!, 'machines/default');
/** How long the agent may take to notice a dead VM and be gone with its supervisor and socket. */
const NOTICE_WITHIN_MS = 15_000;
let socket = '';
let runDir = '';

async function run(args: string[], timeoutMs?: number) {
  const r = await skiff(args, env, timeoutMs);
  if (r.code !== 0) throw new Error(`skiff ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

interface Status {
  state: string;
  ended?: { kind: string; at: string; cause: string; consoleTail: string[] };
  agent: { state: string; detail?: string };
}
async function status(): Promise<Status> {
  return JSON.parse((await run(['status', '--json'])).stdout) as Status;
}
const pidIn = (file: string): number => Number(readFileSync(path.join(runDir, file), 'utf8').trim());
/** Agent and supervisor processes of this machine: their command lines name its spec file. */
const agentProcesses = (): number[] => pidsWithCommandLine('agent/main.js', runDir);

async function engineUp(timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await docker(`unix://${socket}`, ['version'], { timeoutMs: 20_000 })).code === 0) return true;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  return false;
}

/** Kills QEMU -9 and waits until the agent, its supervisor and the socket are gone; returns how long that took. */
async function killVm(): Promise<number> {
  const vm = pidIn('qemu.pid');
  const agent = pidIn('agent.pid');
  const supervisor = pidIn('agent-supervisor.pid');
  const t0 = Date.now();
  process.kill(vm, 'SIGKILL');
  expect(await waitGone(vm)).toBe(true);
  expect(await waitGone(agent, NOTICE_WITHIN_MS), `agent ${agent} still runs ${NOTICE_WITHIN_MS} ms after its VM was killed`).toBe(true);
  expect(await waitGone(supervisor, NOTICE_WITHIN_MS), 'the supervisor outlived its agent').toBe(true);
  const ms = Date.now() - t0;
  expect(agentProcesses()).toEqual([]);
  expect(existsSync(socket)).toBe(false);
  return ms;
}

beforeAll(() => requireArtifacts({ iso: true }));

afterAll(async () => {
  await removeSuiteMachine(env, [root, env.SKIFF_RUNTIME_DIR!]);
}, 240_000);

describe('a VM that dies under skiff', () => {
  it('init and start', async () => {
    await run(['init', '--iso', BUILT_ISO, '--memory', '1G', '--disk', '4G', '--no-shares']);
    const out = JSON.parse((await run(['start', '--json'], 320_000)).stdout);
    socket = out.socket;
    runDir = path.dirname(socket);
    expect(out.recovered).toBeUndefined();
  }, 340_000);

  it('a guest panic is not a death: QEMU and the agent live on, docker works again after the reboot', async () => {
    const vm = pidIn('qemu.pid');
    const agent = pidIn('agent.pid');
    // Detached, so the ssh session returns before the kernel stops.
    await run(['ssh', '--', "setsid sh -c 'sleep 1; echo c > /proc/sysrq-trigger' </dev/null >/dev/null 2>&1 &"]);
    const consoleLog = path.join(machineDir, 'console.log');
    const deadline = Date.now() + 60_000;
    while (!/Kernel panic/.test(readFileSync(consoleLog, 'utf8')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    expect(readFileSync(consoleLog, 'utf8')).toMatch(/Kernel panic/);
    const up = await engineUp(240_000);
    if (!up) console.log(`VMDEATH console tail after the panic:\n${readFileSync(consoleLog, 'utf8').slice(-3000)}\nagent log tail:\n${readFileSync(path.join(machineDir, 'agent.log'), 'utf8').slice(-1500)}`);
    // Not a death, whatever the reboot's speed: the same QEMU, the same agent, nothing recorded.
    expect(alive(vm)).toBe(true);
    expect(pidIn('agent.pid')).toBe(agent);
    expect(alive(agent)).toBe(true);
    const s = await status();
    expect(s.state).toBe('running');
    expect(s.ended).toBeUndefined();
    expect(existsSync(path.join(machineDir, 'vm-end.json'))).toBe(false);
    expect(up, 'docker did not work again after the guest rebooted').toBe(true);
  }, 400_000);

  it(`QEMU killed -9: within ${NOTICE_WITHIN_MS / 1000} s no agent, supervisor or socket; status and list say crashed and why`, async () => {
    const ms = await killVm();
    console.log(`VMDEATH noticed_and_gone_ms=${ms}`);
    // The dead run's pid file and monitor socket went with it; the agent's spec (a plain file) stays for the next start.
    expect(readdirSync(runDir)).toEqual(['agent.spec.json']);
    const s = await status();
    expect(s.state).toBe('crashed');
    expect(s.ended?.kind).toBe('crashed');
    expect(s.ended?.cause).toMatch(/QEMU \(pid \d+\) was killed \(SIGKILL\) or crashed/);
    expect(s.ended?.consoleTail.length).toBeGreaterThan(0);
    expect(s.agent.state).toBe('stopped');
    const human = await run(['status']);
    expect(human.stdout).toMatch(/^State: +crashed$/m);
    expect(human.stdout).toMatch(/^Ended: +\S+: QEMU \(pid \d+\) was killed/m);
    const list = JSON.parse((await run(['list', '--json'])).stdout) as Array<{ name: string; state: string }>;
    expect(list).toEqual([expect.objectContaining({ name: 'default', state: 'crashed' })]);
    // status looked and left nothing behind.
    expect(agentProcesses()).toEqual([]);
    expect(readdirSync(runDir)).toEqual(['agent.spec.json']);
    expect(existsSync(path.join(env.SKIFF_HOME!, 'machines/.default.lock'))).toBe(false);
    const agentLog = readFileSync(path.join(machineDir, 'agent.log'), 'utf8');
    expect(agentLog).toMatch(/the VM is gone \(crashed\): QEMU \(pid \d+\) was killed.*not reconnecting/);
  }, 120_000);

  it('start recovers and says so; status no longer says crashed', async () => {
    const r = await run(['start'], 320_000);
    expect(r.stdout).toMatch(/^recovered: the VM had crashed at \S+ \(QEMU \(pid \d+\) was killed/m);
    expect(await engineUp(30_000)).toBe(true);
    const s = await status();
    expect(s.state).toBe('running');
    expect(s.ended).toBeUndefined();
    expect(s.agent.state).toBe('running');
  }, 340_000);

  it('killed again, `delete` removes it in one step and leaves nothing', async () => {
    await killVm();
    await run(['delete', '--yes']);
    expect(agentProcesses()).toEqual([]);
    expect(pidsWithCommandLine('qemu-system', runDir)).toEqual([]);
    expect(existsSync(runDir)).toBe(false);
    expect(existsSync(machineDir)).toBe(false);
    expect(existsSync(path.join(env.SKIFF_HOME!, 'machines/.default.lock'))).toBe(false);
    expect(JSON.parse((await run(['list', '--json'])).stdout)).toEqual([]);
  }, 120_000);
});
