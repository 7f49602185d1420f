import { hostKeyChangedHint } from '../ssh/hostkey.js';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode, SkiffError } from '../errors.js';
import type { MachinePaths } from '../layout/paths.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { removeQuietly } from './files.js';
import { lastLogLines } from './log.js';
import { AGENT_NODE_FLAGS } from './node-flags.js';
import { isAgentProcess, pidAlive } from './process.js';
import { terminate } from '../util/terminate.js';
import { socketAnswers } from './socket.js';
import { agentSpecPath, type AgentSpec } from './spec.js';
import { isSupervisorProcess, spawnSupervisor, supervisorPidPath } from './supervisor.js';
import { readPidFile } from '../util/pid-file.js';
import { sleep, waitFor, type Requirement } from '../util/wait.js';
import { readAgentState, type AgentState } from './state.js';

/** The agent files of one machine (MachinePaths satisfies this). */
export type AgentPaths = Pick<MachinePaths, 'dockerSocket' | 'agentPid' | 'agentState'>;

export interface AgentStatus {
  /**
   * running: our process is alive and its socket answers; restarting: it died and its
   * supervisor brings it back; stale: leftovers of a dead one.
   */
  state: 'running' | 'restarting' | 'stopped' | 'stale';
  pid?: number;
  /** One line for humans: the link state, or what is stale. */
  detail?: string;
  /** What the agent last wrote about itself (link state, ports), not only its link. */
  report?: AgentState;
}

export interface StartAgentOptions {
  /** How long startAgent waits for the connection (30 s). */
  timeoutMs?: number;
  /** The compiled agent entry; defaults to main.js beside this file. */
  entry?: string;
  /** Extra node flags for the agent process (profiling, benchmarks). */
  nodeArgs?: string[];
}

/** The files an agent started from `spec` keeps (what stopAgent and agentStatus take). */
export function agentPathsOf(spec: AgentSpec): AgentPaths {
  return { dockerSocket: spec.socketPath, agentPid: spec.pidPath, agentState: spec.statePath };
}

function specPathOf(paths: AgentPaths): string {
  return agentSpecPath({ pidPath: paths.agentPid });
}

function defaultEntry(): string {
  return fileURLToPath(new URL('./main.js', import.meta.url));
}

/**
 * The truth about the agent: running (ours, alive, socket answers), restarting
 * (it died and its supervisor is bringing it back), stale (leftovers, or alive
 * but deaf), stopped.
 */
export async function agentStatus(paths: AgentPaths): Promise<AgentStatus> {
  // Between an agent's exit and its supervisor's reaction (restart or exit) there are
  // a few hundred milliseconds in which "restarting" would be a guess: look again.
  let st = await probeAgent(paths);
  for (let i = 0; i < 8 && st.state === 'restarting'; i++) {
    await sleep(250);
    st = await probeAgent(paths);
  }
  return st;
}

async function probeAgent(paths: AgentPaths): Promise<AgentStatus> {
  const specPath = specPathOf(paths);
  const pid = await readPidFile(paths.agentPid);
  const report = await readAgentState(paths.agentState);
  const ours = pid !== undefined && pidAlive(pid) && (await isAgentProcess(pid, specPath));
  if (ours && (await socketAnswers(paths.dockerSocket))) {
    const detail = report ? report.state + (report.state !== 'connected' && report.lastError ? `: ${report.lastError}` : '') : undefined;
    return { state: 'running', pid, ...(detail ? { detail } : {}), ...(report ? { report } : {}) };
  }
  if (ours) return { state: 'stale', pid, detail: `agent ${pid} runs but its socket does not answer`, ...(report ? { report } : {}) };
  const supervisor = await liveSupervisor(paths);
  if (supervisor !== undefined) return { state: 'restarting', detail: `the agent died; supervisor ${supervisor} is restarting it`, ...(report ? { report } : {}) };
  const leftovers = [paths.agentPid, paths.dockerSocket, paths.agentState, supervisorPidPath(paths.agentPid)].filter((f) => existsSync(f));
  if (leftovers.length > 0) {
    const why = report?.state === 'failed' && report.lastError ? `agent failed: ${report.lastError}` : `leftover files: ${leftovers.map((f) => path.basename(f)).join(', ')}`;
    return { state: 'stale', detail: why, ...(report ? { report } : {}) };
  }
  return { state: 'stopped' };
}

/** The pid of this machine's supervisor when one is alive and provably ours. */
async function liveSupervisor(paths: AgentPaths): Promise<number | undefined> {
  const pid = await readPidFile(supervisorPidPath(paths.agentPid));
  return pid !== undefined && pidAlive(pid) && (await isSupervisorProcess(pid, specPathOf(paths))) ? pid : undefined;
}

/**
 * Stops the machine's agent if one runs (SIGTERM, then SIGKILL after `timeoutMs`)
 * and removes whatever files a dead one left. Signals only a process that is
 * provably our agent for this machine.
 */
export async function stopAgent(paths: AgentPaths, opts: { timeoutMs?: number } = {}): Promise<{ wasRunning: boolean }> {
  let wasRunning = false;
  // The supervisor first: stopping the agent alone would look like a crash and be undone.
  const supervisor = await liveSupervisor(paths);
  if (supervisor !== undefined) {
    wasRunning = true;
    // Gone once it is no longer our process: an exited one its parent (init, for a
    // detached supervisor) has not reaped yet still answers kill(pid, 0), at times for a second.
    await terminate(supervisor, { gone: async () => !(await isSupervisorProcess(supervisor, specPathOf(paths))), termMs: opts.timeoutMs ?? 5_000, killMs: 2_000 });
  }
  // Usually gone with its supervisor; still here if the supervisor had to be killed,
  // or if it was started without one (by an older skiff).
  const pid = await readPidFile(paths.agentPid);
  if (pid !== undefined && pidAlive(pid) && (await isAgentProcess(pid, specPathOf(paths)))) {
    wasRunning = true;
    await terminate(pid, { gone: async () => !(await isAgentProcess(pid, specPathOf(paths))), termMs: opts.timeoutMs ?? 5_000, killMs: 2_000 });
  }
  // A socket someone still serves (another agent under another pid file) is left alone.
  if (!(await socketAnswers(paths.dockerSocket, 300))) removeQuietly(paths.dockerSocket);
  removeQuietly(paths.agentPid);
  removeQuietly(paths.agentState);
  removeQuietly(supervisorPidPath(paths.agentPid));
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
 * An agent on its way up: what a readiness wait asks while the agent connects
 * (machine/readiness.ts waits for it beside the guest's own checks).
 */
export interface AgentLaunch {
  /** True once it is connected and serving its socket; throws when it died or failed for good. */
  connected(): Promise<boolean>;
  /** The agent's pid, once connected. */
  readonly pid: number | undefined;
  /** The error for an agent that is still not connected at the deadline. */
  timedOut(): Promise<SkiffError>;
  /** Ends a launch whose wait failed; a failed agent's state file stays so `skiff status` can say why. */
  abandon(): Promise<void>;
}

/**
 * Spawns the agent's supervisor detached (which runs the agent and restarts it
 * when it dies abnormally) and returns at once: the agent retries its connection
 * itself, so it is started before sshd listens. The caller has stopped any
 * previous agent (stopAgent), which it may need gone earlier than this.
 */
export async function launchAgent(spec: AgentSpec, opts: StartAgentOptions = {}): Promise<AgentLaunch> {
  const paths = agentPathsOf(spec);
  const specPath = agentSpecPath(spec);
  await mkdir(path.dirname(specPath), { recursive: true, mode: 0o700 });
  await writeFileAtomic(specPath, JSON.stringify(spec, null, 2) + '\n', { mode: 0o600 });
  const entry = opts.entry ?? defaultEntry();
  const child = spawnSupervisor({
    command: [process.execPath, ...AGENT_NODE_FLAGS, ...(opts.nodeArgs ?? []), entry, '--spec', specPath],
    pidFile: supervisorPidPath(spec.pidPath),
    logFile: spec.logPath,
  });
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
  // The supervisor's: it exits with the agent's status when the agent fails for good.
  const supervisor = child.pid;

  let agentPid: number | undefined;
  return {
    get pid() {
      return agentPid;
    },
    async connected() {
      if (exitCode !== undefined) throw await agentDied(spec, exitCode ?? 1);
      const state = await readAgentState(spec.statePath);
      const pid = await readPidFile(spec.pidPath);
      if (pid !== undefined && state?.pid === pid && state.state === 'connected' && pidAlive(pid) && (await socketAnswers(spec.socketPath))) {
        agentPid = pid;
        return true;
      }
      if (state?.state === 'failed') throw await agentDied(spec, exitCode ?? 1);
      return false;
    },
    timedOut: () => agentTimedOut(spec),
    async abandon() {
      if ((await readAgentState(spec.statePath))?.state === 'failed') {
        if (exitCode === undefined) signal(supervisor, 'SIGTERM');
      } else await stopAgent(paths);
    },
  };
}

/**
 * Launches the agent and resolves with its pid once its socket accepts
 * connections and its SSH link is up. An agent already running for the spec is
 * reused. On failure the agent is stopped and the error carries its last words.
 * (`skiff start` waits through machine/readiness.ts instead, beside the guest.)
 */
export async function startAgent(spec: AgentSpec, opts: StartAgentOptions = {}): Promise<number> {
  const current = await agentStatus(agentPathsOf(spec));
  if (current.state === 'running' && current.pid !== undefined && current.report?.state === 'connected') return current.pid;
  await stopAgent(agentPathsOf(spec));
  const launch = await launchAgent(spec, opts);
  try {
    await waitFor([agentRequirement(launch)], { deadline: Date.now() + (opts.timeoutMs ?? 30_000) });
  } catch (e) {
    await launch.abandon();
    throw e;
  }
  return launch.pid!;
}

/** The agent connected and serving, as one requirement of a readiness wait. */
export function agentRequirement(launch: AgentLaunch): Requirement {
  return { met: () => launch.connected(), timedOut: () => launch.timedOut(), pollMs: 100 };
}

async function agentTimedOut(spec: AgentSpec): Promise<SkiffError> {
  const state = await readAgentState(spec.statePath);
  const why = state?.lastError ? `: ${state.lastError}` : '';
  return new SkiffError('agent-timeout', `the agent of machine "${spec.machine}" could not connect to the guest in time${why}`, {
    hint: `see the agent log ${spec.logPath}`,
    exitCode: ExitCode.network,
  });
}

async function agentDied(spec: AgentSpec, code: number): Promise<SkiffError> {
  const state = await readAgentState(spec.statePath);
  const lines = await lastLogLines(spec.logPath, 3);
  const last = state?.lastError ?? lines.filter((l) => !/exiting \(\d+\)$/.test(l)).pop() ?? `exit status ${code}`;
  const keyChanged = /host key changed/.test(last);
  return new SkiffError('agent-failed', `the agent of machine "${spec.machine}" stopped: ${last}`, {
    hint: keyChanged ? hostKeyChangedHint(`${spec.sshHost}:${spec.sshPort}`, spec.remoteHost) : `see the agent log ${spec.logPath}`,
    exitCode: keyChanged ? ExitCode.conflict : ExitCode.failure,
  });
}
