import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agentPathsOf, agentStatus, startAgent, stopAgent } from '../../src/agent/control.js';
import type { AgentSpec } from '../../src/agent/spec.js';
import { SUPERVISOR_NAME, supervisorPidPath } from '../../src/agent/supervisor.js';
import { readVmEnd } from '../../src/agent/vm-end.js';
import { watchVm } from '../../src/agent/vm-watch.js';
import type { VmWatch } from '../../src/drivers/driver.js';
import { VirtualBoxDriver } from '../../src/drivers/virtualbox/driver.js';
import { processStartTime } from '../../src/util/process-start.js';
import { readPidFile } from '../../src/util/pid-file.js';
import { agentFixture, type AgentFixture } from '../helpers/agent-fixture.js';
import { setupFakeVBox } from '../helpers/fake-vboxmanage/fake-vbox.js';
import { pidsWithCommandLine, waitGone } from '../helpers/proc.js';

/**
 * issue 26: the agent watches the VM it serves. A real agent under its real
 * supervisor, a real sshd; the "VM" is a process of ours (QEMU's part: a pid,
 * its start time, a pid file and leftovers), or the stand-in VBoxManage.
 */
/** How long the agent may take to notice a dead VM and be gone with its supervisor and socket. */
const NOTICE_WITHIN_MS = 10_000;

let fx: AgentFixture;
const started: AgentSpec[] = [];
const vms: ChildProcess[] = [];

beforeAll(async () => {
  fx = await agentFixture();
}, 90_000);

afterEach(async () => {
  for (const s of started.splice(0)) await stopAgent(agentPathsOf(s));
  for (const c of vms.splice(0)) c.kill('SIGKILL');
});

afterAll(async () => {
  if (fx) {
    for (const pid of [...pidsWithCommandLine(SUPERVISOR_NAME, fx.dir), ...pidsWithCommandLine('agent/main.js', fx.dir)]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
  await fx?.cleanup();
});

/** A stand-in VM process with a pid file, a monitor "socket" and a run state, as QEMU leaves them. */
async function fakeVm(name: string): Promise<{ child: ChildProcess; watch: Extract<VmWatch, { kind: 'process' }>; dir: string }> {
  const dir = path.join(fx.dir, `${name}-vm`);
  mkdirSync(dir, { recursive: true });
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  vms.push(child);
  const pid = child.pid!;
  const pidFile = path.join(dir, 'qemu.pid');
  const leftovers = [pidFile, path.join(dir, 'qmp.sock'), path.join(dir, 'state.json')];
  for (const f of leftovers) writeFileSync(f, `${pid}\n`);
  const startTime = await processStartTime(pid);
  expect(startTime).toBeDefined();
  return { child, dir, watch: { kind: 'process', label: 'QEMU', pid, startTime: startTime!, pidFile, leftovers } };
}

function specWithVm(name: string, vm: VmWatch, consoleText = ''): AgentSpec {
  const consoleLog = path.join(fx.dir, `${name}-console.log`);
  writeFileSync(consoleLog, consoleText);
  return fx.spec(name, { vm, vmEndPath: path.join(fx.dir, `${name}-vm-end.json`), consoleLog });
}

async function start(spec: AgentSpec): Promise<number> {
  started.push(spec);
  return startAgent(spec, { entry: fx.agent.entry, timeoutMs: 20_000 });
}

/** Waits for the agent and its supervisor to be gone; the socket and run files must be gone too. */
async function expectAgentGone(spec: AgentSpec, agent: number, supervisor: number): Promise<void> {
  expect(await waitGone(agent, NOTICE_WITHIN_MS), `agent still runs ${NOTICE_WITHIN_MS} ms after its VM ended`).toBe(true);
  expect(await waitGone(supervisor, NOTICE_WITHIN_MS), 'the supervisor outlived its agent').toBe(true);
  expect(pidsWithCommandLine(path.join(path.dirname(spec.pidPath), 'agent.spec.json'))).toEqual([]);
  for (const f of [spec.socketPath, spec.pidPath, spec.statePath, supervisorPidPath(spec.pidPath)]) expect(existsSync(f), f).toBe(false);
  expect((await agentStatus(agentPathsOf(spec))).state).toBe('stopped');
}

describe('the agent watches its VM', () => {
  it('VM killed -9: the agent records why, removes the leftovers and exits with its supervisor', async () => {
    const vm = await fakeVm('killed');
    const spec = specWithVm('killed', vm.watch, 'booting\r\n\x1b[0mSKIFF-READY 12.5\r\nlast words of the guest\r\n');
    const agent = await start(spec);
    const supervisor = (await readPidFile(supervisorPidPath(spec.pidPath)))!;
    vm.child.kill('SIGKILL');
    await expectAgentGone(spec, agent, supervisor);
    const end = await readVmEnd(spec.vmEndPath!);
    expect(end).toMatchObject({ kind: 'crashed', cause: `QEMU (pid ${vm.watch.pid}) was killed (SIGKILL) or crashed` });
    expect(end!.consoleTail).toEqual(['booting', 'SKIFF-READY 12.5', 'last words of the guest']);
    expect(Date.now() - Date.parse(end!.at)).toBeLessThan(60_000);
    for (const f of vm.watch.leftovers) expect(existsSync(f), f).toBe(false);
    expect(readFileSync(spec.logPath, 'utf8')).toMatch(/the VM is gone \(crashed\): QEMU \(pid \d+\) was killed \(SIGKILL\) or crashed; not reconnecting/);
  }, 60_000);

  it('a VM that exited by itself (its pid file gone) is recorded as powered off, the guest\'s shutdown named', async () => {
    const vm = await fakeVm('poweroff');
    const spec = specWithVm('poweroff', vm.watch, 'SKIFF-POWEROFF 80.1\nreboot: Power down\n');
    const agent = await start(spec);
    const supervisor = (await readPidFile(supervisorPidPath(spec.pidPath)))!;
    writeFileSync(vm.watch.pidFile, ''); // QEMU removes it at a clean exit
    vm.child.kill('SIGTERM');
    await expectAgentGone(spec, agent, supervisor);
    expect(await readVmEnd(spec.vmEndPath!)).toMatchObject({
      kind: 'powered-off',
      cause: `QEMU (pid ${vm.watch.pid}) exited without \`skiff stop\`: the guest shut itself down`,
    });
  }, 60_000);

  it('a live pid with another start time (a reused pid) is not the VM', async () => {
    const vm = await fakeVm('reused');
    const spec = specWithVm('reused', { ...vm.watch, startTime: String(Number(vm.watch.startTime) - 1) });
    // The agent may be gone before startAgent sees it connected: either way it must end.
    await start(spec).catch(() => undefined);
    await until(() => readVmEnd(spec.vmEndPath!));
    expect((await readVmEnd(spec.vmEndPath!))?.kind).toBe('crashed');
    await waitGone((await readPidFile(supervisorPidPath(spec.pidPath))) ?? 0, NOTICE_WITHIN_MS);
    expect(pidsWithCommandLine(path.join(path.dirname(spec.pidPath), 'agent.spec.json'))).toEqual([]);
  }, 60_000);

  it('while the VM lives, the agent stays and its run files are kept', async () => {
    const vm = await fakeVm('lives');
    const spec = specWithVm('lives', vm.watch);
    const agent = await start(spec);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await readPidFile(spec.pidPath)).toBe(agent);
    expect((await agentStatus(agentPathsOf(spec))).state).toBe('running');
    expect(existsSync(spec.vmEndPath!)).toBe(false);
    for (const f of vm.watch.leftovers) expect(existsSync(f), f).toBe(true);
  }, 60_000);
});

describe('a long-running agent', () => {
  it('keeps its log under its cap: the log and its one rotated copy each stay within logMaxBytes', async () => {
    const cap = 600;
    // Not sshd: every other connection is answered by a web server or closed at once, so
    // the agent logs a different failure each time (a repeated one is written once).
    let n = 0;
    const notSsh = net.createServer((c) => (n++ % 2 === 0 ? c.end('HTTP/1.1 400 Bad Request\r\n\r\n') : c.destroy()));
    await new Promise<void>((resolve) => notSsh.listen(0, '127.0.0.1', resolve));
    const spec = fx.spec('capped', { sshPort: (notSsh.address() as net.AddressInfo).port, logMaxBytes: cap });
    const dir = path.dirname(spec.pidPath);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const specFile = path.join(dir, 'agent.spec.json');
    writeFileSync(specFile, JSON.stringify(spec));
    const agent = spawn(process.execPath, [fx.agent.entry, '--spec', specFile], { stdio: 'ignore' });
    vms.push(agent);
    started.push(spec);
    // Rotated twice: the first copy was itself replaced.
    let rotations = 0;
    let lastFirstLine = '';
    await until(async () => {
      const first = existsSync(`${spec.logPath}.1`) ? readFileSync(`${spec.logPath}.1`, 'utf8').split('\n')[0]! : '';
      if (first !== '' && first !== lastFirstLine) {
        lastFirstLine = first;
        rotations++;
      }
      for (const f of [spec.logPath, `${spec.logPath}.1`]) if (existsSync(f)) expect(statSync(f).size, f).toBeLessThanOrEqual(cap);
      return rotations >= 2 ? true : undefined;
    }, 60_000);
    expect(readFileSync(spec.logPath, 'utf8')).toMatch(/ssh connecting: .*(is not an SSH server|closed the connection before its SSH banner)/);
    notSsh.close();
  }, 90_000);
});

describe('VirtualBox: the driver state is the VM', () => {
  it("a VM that VirtualBox says aborted is gone: crashed, with VirtualBox's state named", async () => {
    const vb = await setupFakeVBox();
    try {
      const driver = new VirtualBoxDriver(await vb.spec('vb'));
      await driver.create();
      expect(await driver.watch()).toBeUndefined(); // not running: nothing to watch
      await driver.start();
      const watch = await driver.watch();
      expect(watch).toMatchObject({ kind: 'virtualbox', vmName: 'skiff-vb' });
      const vmEndPath = path.join(vb.root, 'vm-end.json');
      const gone = new Promise<string>((resolve) => {
        const w = watchVm(watch!, { log: () => {}, vmEndPath, linkUp: () => false, onGone: (e) => resolve(e.cause), intervalMs: 200 });
        setTimeout(() => w.stop(), 30_000).unref();
      });
      // Still running after a few looks: no end.
      await new Promise((r) => setTimeout(r, 2_500));
      expect(existsSync(vmEndPath)).toBe(false);
      const state = JSON.parse(readFileSync(process.env.FAKE_VBOX_STATE!, 'utf8'));
      for (const vm of Object.values(state.vms) as Array<{ state: string }>) vm.state = 'aborted';
      writeFileSync(process.env.FAKE_VBOX_STATE!, JSON.stringify(state));
      expect(await gone).toMatch(/^the VirtualBox VM skiff-vb aborted \(its process crashed or was killed; VMState aborted\)$/);
      expect((await readVmEnd(vmEndPath))?.kind).toBe('crashed');
    } finally {
      await vb.cleanup();
    }
  }, 60_000);
});

async function until<T>(f: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}
