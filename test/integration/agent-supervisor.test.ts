import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agentStatus, startAgent, stopAgent, agentPathsOf } from '../../src/agent/control.js';
import type { AgentSpec } from '../../src/agent/spec.js';
import { readPidFile } from '../../src/util/pid-file.js';
import { SUPERVISOR_MAX_RESTARTS, SUPERVISOR_NAME, spawnSupervisor, supervisorPidPath } from '../../src/agent/supervisor.js';
import { agentFixture, httpGet, type AgentFixture, until } from '../helpers/agent-fixture.js';
import { alive, pidsWithCommandLine, waitGone } from '../helpers/proc.js';

let fx: AgentFixture;
const started: AgentSpec[] = [];

beforeAll(async () => {
  fx = await agentFixture();
}, 90_000);

afterEach(async () => {
  for (const s of started.splice(0)) await stopAgent(agentPathsOf(s));
});

afterAll(async () => {
  // Whatever a failed test left running under our temp dir is ours: supervisors first.
  if (fx) {
    for (const pid of [...pidsWithCommandLine(SUPERVISOR_NAME, fx.dir), ...pidsWithCommandLine('agent/main.js', fx.dir)]) {
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
  await fx?.cleanup();
});

async function start(spec: AgentSpec): Promise<number> {
  started.push(spec);
  return startAgent(spec, { entry: fx.agent.entry, timeoutMs: 20_000 });
}


async function pingOk(socket: string): Promise<boolean> {
  return httpGet(socket, '/_ping').then(
    (r) => r.body === 'OK',
    () => false,
  );
}

/** Live processes of this spec: its supervisor and its agent. */
function processesOf(spec: AgentSpec): number[] {
  return pidsWithCommandLine(path.join(path.dirname(spec.pidPath), 'agent.spec.json'));
}

function deadPid(): Promise<number> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['-e', '0']);
    c.on('exit', () => resolve(c.pid!));
  });
}

describe('agent supervisor', () => {
  it('brings a SIGKILLed agent back by itself, with a new pid, serving the same socket', async () => {
    const spec = fx.spec('killed', { remoteSocket: fx.pingPath });
    const first = await start(spec);
    const supervisor = await readPidFile(supervisorPidPath(spec.pidPath));
    expect(supervisor).toBeGreaterThan(0);
    expect(supervisor).not.toBe(first);
    expect(await pingOk(spec.socketPath)).toBe(true);

    process.kill(first, 'SIGKILL');
    expect(await waitGone(first)).toBe(true);
    // No startAgent here: only the supervisor can bring it back.
    const second = await until('a new agent serving /_ping', async () => {
      const pid = await readPidFile(spec.pidPath);
      return pid !== undefined && pid !== first && alive(pid) && (await pingOk(spec.socketPath)) ? pid : undefined;
    });
    expect(second).not.toBe(first);
    expect(await readPidFile(supervisorPidPath(spec.pidPath))).toBe(supervisor);
    const st = await agentStatus(agentPathsOf(spec));
    expect(st.state).toBe('running');
    expect(st.pid).toBe(second);
    expect(readFileSync(spec.logPath, 'utf8')).toMatch(new RegExp(`supervisor ${supervisor}: agent ${first} exited with status 137, restarting`));
  }, 40_000);

  it('status says "restarting" while the agent is dead and its supervisor alive', async () => {
    const spec = fx.spec('paused', { remoteSocket: fx.pingPath });
    const first = await start(spec);
    const supervisor = (await readPidFile(supervisorPidPath(spec.pidPath)))!;
    // A stopped supervisor cannot react yet: the window between death and restart, held open.
    process.kill(supervisor, 'SIGSTOP');
    try {
      process.kill(first, 'SIGKILL');
      expect(await waitGone(first)).toBe(true);
      const st = await agentStatus(agentPathsOf(spec));
      expect(st.state).toBe('restarting');
      expect(st.detail).toMatch(new RegExp(`supervisor ${supervisor}`));
    } finally {
      process.kill(supervisor, 'SIGCONT');
    }
    await until('the agent to be back', async () => ((await agentStatus(agentPathsOf(spec))).state === 'running' ? true : undefined));
    expect(await pingOk(spec.socketPath)).toBe(true);
  }, 40_000);

  it('stopAgent stops supervisor and agent and leaves no files and no process', async () => {
    const spec = fx.spec('stopall', { remoteSocket: fx.pingPath });
    const agent = await start(spec);
    const supervisor = (await readPidFile(supervisorPidPath(spec.pidPath)))!;
    expect(processesOf(spec).sort()).toEqual([agent, supervisor].sort());

    const r = await stopAgent(agentPathsOf(spec));
    expect(r.wasRunning).toBe(true);
    expect(alive(agent) || alive(supervisor)).toBe(false);
    expect(processesOf(spec)).toEqual([]);
    for (const f of [spec.pidPath, spec.socketPath, spec.statePath, supervisorPidPath(spec.pidPath)]) expect(existsSync(f)).toBe(false);
    expect(readFileSync(spec.logPath, 'utf8')).toMatch(/SIGTERM received, shutting down/);
    expect((await agentStatus(agentPathsOf(spec))).state).toBe('stopped');
  }, 30_000);

  it('stopAgent counts a supervisor that exited as gone before its parent reaps it (a detached one waits on init)', async () => {
    const spec = fx.spec('unreaped', { remoteSocket: fx.pingPath });
    mkdirSync(path.dirname(spec.pidPath), { recursive: true, mode: 0o700 });
    const pidFile = supervisorPidPath(spec.pidPath);
    // A stand-in supervisor (its name and spec on its command line) that leaves on SIGTERM, under a
    // parent that never reaps: after the exec, sleep is its parent, and it stays a zombie.
    const child = `sh -c 'trap "exit 0" TERM; while :; do sleep 0.05; done' ${SUPERVISOR_NAME} ${path.dirname(spec.pidPath)}/agent.spec.json`;
    const parent = spawn('/bin/sh', ['-c', `${child} & echo $! > '${pidFile}'; exec sleep 120`], { stdio: 'ignore' });
    try {
      const supervisor = await until('the stand-in to write its pid', async () => readPidFile(pidFile), 5_000);
      await until('the stand-in to be running', async () => (processesOf(spec).includes(supervisor) ? true : undefined), 5_000);
      // With kill(pid, 0) as the test of "gone", this would wait out the full minute before its SIGKILL.
      const r = await stopAgent(agentPathsOf(spec), { timeoutMs: 60_000 });
      expect(r.wasRunning).toBe(true);
      expect(readFileSync(`/proc/${supervisor}/stat`, 'utf8')).toMatch(/^\d+ \(.*\) Z /);
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
  }, 20_000);

  it('does not restart an agent that refused a changed host key', async () => {
    const spec = fx.spec('fatal', { hostPubPath: fx.sshd.otherHostPubPath, remoteSocket: fx.pingPath });
    const err = await start(spec).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/host key changed/);
    // The supervisor passed the fatal status on and left: nothing runs for this spec.
    await until('the supervisor to leave', async () => (processesOf(spec).length === 0 ? true : undefined), 5_000);
    expect(existsSync(supervisorPidPath(spec.pidPath))).toBe(false);
    const log = readFileSync(spec.logPath, 'utf8');
    expect(log.match(/agent \d+ starting for machine/g)).toHaveLength(1);
    expect(log).not.toMatch(/restarting in/);
    const st = await agentStatus(agentPathsOf(spec));
    expect(st.state).toBe('stale');
    expect(st.detail).toMatch(/host key changed/);
  }, 30_000);

  it('gives up on an agent that keeps crashing instead of looping', async () => {
    const dir = path.join(fx.dir, 'crashy');
    mkdirSync(dir, { recursive: true });
    const runs = path.join(dir, 'runs');
    const log = path.join(dir, 'log');
    const pidFile = path.join(dir, 'sup.pid');
    const child = spawnSupervisor({
      command: [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(runs)}, 'x\\n'); process.exit(1)`, dir],
      pidFile,
      logFile: log,
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(readFileSync(runs, 'utf8').trim().split('\n')).toHaveLength(SUPERVISOR_MAX_RESTARTS + 1);
    expect(readFileSync(log, 'utf8')).toMatch(/failures within a minute, giving up/);
    expect(existsSync(pidFile)).toBe(false);
  }, 30_000);

  it('a stale supervisor pid file (dead or foreign pid) blocks nothing and is never signalled', async () => {
    const spec = fx.spec('stalesup', { remoteSocket: fx.pingPath });
    mkdirSync(path.dirname(spec.pidPath), { recursive: true, mode: 0o700 });
    writeFileSync(supervisorPidPath(spec.pidPath), `${await deadPid()}\n`);
    expect((await agentStatus(agentPathsOf(spec))).state).toBe('stale');
    const pid = await start(spec);
    expect(await pingOk(spec.socketPath)).toBe(true);
    expect(await readPidFile(spec.pidPath)).toBe(pid);

    await stopAgent(agentPathsOf(spec));
    // Our own (live, foreign) pid in the supervisor's pid file: left alone, file removed.
    writeFileSync(supervisorPidPath(spec.pidPath), `${process.pid}\n`);
    const r = await stopAgent(agentPathsOf(spec));
    expect(r.wasRunning).toBe(false);
    expect(existsSync(supervisorPidPath(spec.pidPath))).toBe(false);
  }, 30_000);
});
