import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode, SkiffError } from '../errors.js';
import type { MachinePaths } from '../machine/paths.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { removeQuietly } from './files.js';
import { lastLogLines } from './log.js';
import { AGENT_NODE_FLAGS } from './node-flags.js';
import { isAgentProcess, pidAlive, sleep } from './process.js';
import { socketAnswers } from './socket.js';
import { agentSpecPath, type AgentSpec } from './spec.js';
import { readAgentState, readPidFile, type AgentState } from './state.js';

/** The agent files of one machine (MachinePaths satisfies this). */
export type AgentPaths = Pick<MachinePaths, 'dockerSocket' | 'agentPid' | 'agentState'>;

export interface AgentStatus {
  /** running: our process is alive and its socket answers; stale: leftovers of a dead one. */
  state: 'running' | 'stopped' | 'stale';
  pid?: number;
  /** One line for humans: the link state, or what is stale. */
  detail?: string;
  link?: AgentState;
}

export interface StartAgentOptions {
  timeoutMs?: number;
  /** Polled while waiting: a guest-side failure ends the wait early with its error. */
  failed?: () => SkiffError | undefined;
  /** The compiled agent entry; defaults to main.js beside this file. */
  entry?: string;
  /** Extra node flags for the agent process (profiling, benchmarks). */
  nodeArgs?: string[];
}

function pathsOf(spec: AgentSpec): AgentPaths {
  return { dockerSocket: spec.socketPath, agentPid: spec.pidPath, agentState: spec.statePath };
}

function specPathOf(paths: AgentPaths): string {
  return agentSpecPath({ pidPath: paths.agentPid });
}

function defaultEntry(): string {
  return fileURLToPath(new URL('./main.js', import.meta.url));
}

export async function agentStatus(paths: AgentPaths): Promise<AgentStatus> {
  const pid = await readPidFile(paths.agentPid);
  const link = await readAgentState(paths.agentState);
  const ours = pid !== undefined && pidAlive(pid) && (await isAgentProcess(pid, specPathOf(paths)));
  if (ours && (await socketAnswers(paths.dockerSocket))) {
    const detail = link ? link.state + (link.state !== 'connected' && link.lastError ? `: ${link.lastError}` : '') : undefined;
    return { state: 'running', pid, ...(detail ? { detail } : {}), ...(link ? { link } : {}) };
  }
  if (ours) return { state: 'stale', pid, detail: `agent ${pid} runs but its socket does not answer`, ...(link ? { link } : {}) };
  const leftovers = [paths.agentPid, paths.dockerSocket, paths.agentState].filter((f) => existsSync(f));
  if (leftovers.length > 0) {
    const why = link?.state === 'failed' && link.lastError ? `agent failed: ${link.lastError}` : `leftover files: ${leftovers.map((f) => path.basename(f)).join(', ')}`;
    return { state: 'stale', detail: why, ...(link ? { link } : {}) };
  }
  return { state: 'stopped' };
}

/**
 * Stops the machine's agent if one runs (SIGTERM, then SIGKILL after `timeoutMs`)
 * and removes whatever files a dead one left. Signals only a process that is
 * provably our agent for this machine.
 */
export async function stopAgent(paths: AgentPaths, opts: { timeoutMs?: number } = {}): Promise<{ wasRunning: boolean }> {
  const pid = await readPidFile(paths.agentPid);
  let wasRunning = false;
  if (pid !== undefined && pidAlive(pid) && (await isAgentProcess(pid, specPathOf(paths)))) {
    wasRunning = true;
    signal(pid, 'SIGTERM');
    const deadline = Date.now() + (opts.timeoutMs ?? 5_000);
    while (pidAlive(pid) && Date.now() < deadline) await sleep(50);
    if (pidAlive(pid)) {
      signal(pid, 'SIGKILL');
      const killDeadline = Date.now() + 2_000;
      while (pidAlive(pid) && Date.now() < killDeadline) await sleep(50);
    }
  }
  // A socket someone still serves (another agent under another pid file) is left alone.
  if (!(await socketAnswers(paths.dockerSocket, 300))) removeQuietly(paths.dockerSocket);
  removeQuietly(paths.agentPid);
  removeQuietly(paths.agentState);
  return { wasRunning };
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/**
 * Spawns the agent detached and resolves with its pid once its socket accepts
 * connections and its SSH link is up. An agent already running for the spec is
 * reused. On failure the agent is stopped and the error carries its last words.
 */
export async function startAgent(spec: AgentSpec, opts: StartAgentOptions = {}): Promise<number> {
  const paths = pathsOf(spec);
  const current = await agentStatus(paths);
  if (current.state === 'running' && current.pid !== undefined && current.link?.state === 'connected') return current.pid;
  await stopAgent(paths);

  const specPath = agentSpecPath(spec);
  await mkdir(path.dirname(specPath), { recursive: true, mode: 0o700 });
  await writeFileAtomic(specPath, JSON.stringify(spec, null, 2) + '\n', { mode: 0o600 });
  const entry = opts.entry ?? defaultEntry();
  const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, ...(opts.nodeArgs ?? []), entry, '--spec', specPath], { detached: true, stdio: 'ignore' });
  let exitCode: number | null | undefined;
  child.once('exit', (code, sig) => {
    exitCode = code ?? (sig ? 128 : 1);
  });
  const spawnError = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', resolve);
  });
  if (spawnError || child.pid === undefined) {
    throw new SkiffError('agent-spawn-failed', `cannot start the agent: ${spawnError?.message ?? 'no pid'}`, {
      hint: 'check that node can run ' + entry,
      exitCode: ExitCode.environment,
    });
  }
  child.unref();
  const pid = child.pid;

  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  try {
    for (;;) {
      if (exitCode !== undefined) throw await agentDied(spec, exitCode ?? 1);
      const guest = opts.failed?.();
      if (guest) throw guest;
      const state = await readAgentState(spec.statePath);
      if (state?.pid === pid && state.state === 'connected' && (await socketAnswers(spec.socketPath))) return pid;
      if (state?.state === 'failed') throw await agentDied(spec, exitCode ?? 1);
      if (Date.now() > deadline) {
        const why = state?.lastError ? `: ${state.lastError}` : '';
        throw new SkiffError('agent-timeout', `the agent of machine "${spec.machine}" could not connect to the guest in time${why}`, {
          hint: `see the agent log ${spec.logPath}`,
          exitCode: ExitCode.network,
        });
      }
      await sleep(100);
    }
  } catch (e) {
    // A failed agent's state file stays so `skiff status` can say why; anything else is cleaned up.
    if ((await readAgentState(spec.statePath))?.state === 'failed') {
      if (exitCode === undefined) signal(pid, 'SIGTERM');
    } else await stopAgent(paths);
    throw e;
  }
}

async function agentDied(spec: AgentSpec, code: number): Promise<SkiffError> {
  const state = await readAgentState(spec.statePath);
  const lines = await lastLogLines(spec.logPath, 3);
  const last = state?.lastError ?? lines.filter((l) => !/exiting \(\d+\)$/.test(l)).pop() ?? `exit status ${code}`;
  return new SkiffError('agent-failed', `the agent of machine "${spec.machine}" stopped: ${last}`, {
    hint: `see the agent log ${spec.logPath}`,
    exitCode: /host key changed/.test(last) ? ExitCode.conflict : ExitCode.failure,
  });
}
