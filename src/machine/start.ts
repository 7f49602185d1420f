import { errorMessage, ExitCode, SkiffError } from '../errors.js';
import { agentStatus, startAgent, stopAgent } from '../agent/control.js';
import type { AgentSpec } from '../agent/spec.js';
import type { SshEndpoint, VmWatch } from '../drivers/driver.js';
import { readVmEnd, type VmEnd } from '../agent/vm-end.js';
import { rm } from 'node:fs/promises';
import { contextName, updateDockerContext } from '../shell/docker-context.js';
import type { Progress, StageTiming } from '../progress.js';
import { watchConsole, type ConsoleMarker } from './console-watch.js';
import { enginePing } from './engine.js';
import { checkShareHostPaths } from './shares.js';
import type { Machine } from './machine.js';
import { machineFlag } from '../layout/paths.js';

export interface StartOptions {
  /** How long the whole boot may take before giving up (TCG boots take ~20 s). */
  timeoutMs?: number;
  /** Make the machine's docker context the current one. */
  useContext?: boolean;
}

export interface StartResult {
  alreadyRunning: boolean;
  socket: string;
  ssh: SshEndpoint;
  timings: StageTiming[];
  context: string;
  /** Guest paths of shares that could not be mounted. */
  sharesNotMounted: string[];
  /** The crash (or outside power-off) this start recovered from. */
  recovered?: VmEnd;
}

const STAGE_TEXT: Record<string, string> = {
  init: 'guest init',
  modules: 'loading kernel modules',
  network: 'bringing up the network',
  disk: 'mounting the data disk',
  sshd: 'starting sshd',
  dockerd: 'starting the Docker engine',
};

export function agentSpecFor(m: Machine, ssh: SshEndpoint, vm?: VmWatch): AgentSpec {
  const p = m.paths;
  const udp = m.driver.udpForwarding();
  return {
    ...(vm ? { vm, vmEndPath: p.vmEnd, consoleLog: p.consoleLog } : {}),
    machine: m.name,
    sshHost: ssh.host,
    sshPort: ssh.port,
    user: 'root',
    keyPath: p.sshKey,
    hostPubPath: p.hostPub,
    socketPath: p.dockerSocket,
    pidPath: p.agentPid,
    statePath: p.agentState,
    logPath: p.agentLog,
    ...(udp ? { udp } : {}),
  };
}

/**
 * Boots the machine (if it is not running), connects the agent and returns once
 * the Docker API answers through the forwarded socket. Holding the machine's lock,
 * a second `start` waits for the first and then finds the machine running.
 */
export async function startMachine(m: Machine, ui: Progress, opts: StartOptions = {}): Promise<StartResult> {
  return m.lock(() => startLocked(m, ui, opts), {
    onWait: () => ui.stage('waiting', `another skiff command is using machine "${m.name}"; waiting for it`),
  });
}

async function startLocked(m: Machine, ui: Progress, opts: StartOptions): Promise<StartResult> {
  const timeoutMs = opts.timeoutMs ?? 240_000;
  const deadline = Date.now() + timeoutMs;
  const state = await m.driver.state();
  const socket = m.paths.dockerSocket;
  // The docker context is a convenience: a ~/.docker skiff cannot write (root-owned
  // after a `sudo docker login`) must not stop the machine, unless it was asked for.
  const context = await updateDockerContext(m.name, socket, { use: opts.useContext ?? false }).catch((e: unknown) => {
    if (opts.useContext) throw e;
    ui.notice(`warning: docker context not updated: ${errorMessage(e)}`);
    return contextName(m.name);
  });

  if (state === 'running') {
    const ssh = await m.driver.sshEndpoint();
    if (!ssh) throw new SkiffError('no-endpoint', `machine "${m.name}" runs but its SSH port is unknown`, { hint: 'run `skiff restart`' });
    const agent = await agentStatus(m.paths);
    if (agent.state === 'running' && (await enginePing(socket))) {
      return { alreadyRunning: true, socket, ssh, timings: [], context, sharesNotMounted: [] };
    }
    // The VM survived but the agent did not (crash, host reboot of the agent only, kill).
    ui.stage('agent', 'reconnecting to the running machine');
    await stopAgent(m.paths);
    await startAgent(agentSpecFor(m, ssh, await m.driver.watch()));
    ui.stage('engine', 'waiting for the Docker engine');
    await waitForEngine(m, socket, deadline, () => undefined);
    return { alreadyRunning: true, socket, ssh, timings: ui.timings, context, sharesNotMounted: [] };
  }
  if (state !== 'stopped') {
    throw new SkiffError('bad-state', `machine "${m.name}" is ${state}`, {
      hint: state === 'paused' ? 'resume it in the hypervisor, or `skiff stop --force` it' : 'wait for it, or `skiff stop --force` it',
      exitCode: ExitCode.conflict,
    });
  }

  await checkShareHostPaths(m.config.shares);
  await stopAgent(m.paths); // a leftover from a crash must not hold the socket path
  const ended = await readVmEnd(m.paths.vmEnd);
  if (ended) ui.notice(`recovering: the VM ${ended.kind === 'crashed' ? 'crashed' : 'stopped without `skiff stop`'} at ${ended.at} (${ended.cause})`);
  ui.stage('boot', 'booting the VM');
  let failure: ConsoleMarker | undefined;
  const watcher = watchConsole(m.paths.consoleLog, (mk) => {
    if (mk.kind === 'stage') ui.stage(mk.name, `guest: ${STAGE_TEXT[mk.name] ?? mk.name}`);
    else if (mk.kind === 'error') failure = mk;
  });
  try {
    await watcher.ready;
    const ssh = await m.driver.start({ notice: (msg) => ui.notice(msg) });
    const guestFailed = () => {
      if (failure?.kind === 'error') {
        return new SkiffError('guest-failed', `the guest failed to start: ${failure.what}: ${failure.message}`, {
          hint: `see the console log: skiff logs${machineFlag(m.name)}; the machine is left running so you can \`skiff ssh\` in`,
        });
      }
      return undefined;
    };
    await startAgentWhenUp(m, ssh, deadline, guestFailed);
    // sshd is up once the agent is connected: mount the shares while dockerd starts.
    const shares = settle(m.config.shares.length ? import('./shares-mount.js').then((s) => s.mountShares(m, ssh)) : Promise.resolve([]));
    const settings = settle(m.driver.passesBootSettings ? Promise.resolve() : import('./boot-settings.js').then((s) => s.applyBootSettings(m, ssh)));
    ui.stage('engine', 'waiting for the Docker engine');
    await waitForEngine(m, socket, deadline, guestFailed);
    const sharesNotMounted = await shares;
    await settings;
    // Kept until now: a start that fails leaves `status` still saying why the last run ended.
    if (ended) await rm(m.paths.vmEnd, { force: true });
    return { alreadyRunning: false, socket, ssh, timings: ui.timings, context, sharesNotMounted, ...(ended ? { recovered: ended } : {}) };
  } finally {
    watcher.stop();
  }
}

async function startAgentWhenUp(m: Machine, ssh: SshEndpoint, deadline: number, guestFailed: () => SkiffError | undefined): Promise<void> {
  // The agent retries the connection itself; it is started right away so the SSH
  // handshake happens the moment sshd listens, not at our next poll.
  const spec = agentSpecFor(m, ssh, await m.driver.watch());
  await startAgent(spec, { timeoutMs: Math.max(1000, deadline - Date.now()), failed: guestFailed });
}

async function waitForEngine(m: Machine, socket: string, deadline: number, guestFailed: () => SkiffError | undefined): Promise<void> {
  for (;;) {
    if (await enginePing(socket, 2000)) return;
    const err = guestFailed();
    if (err) throw err;
    if ((await m.driver.state()) !== 'running') {
      throw new SkiffError('vm-died', `the VM of machine "${m.name}" stopped while starting`, {
        hint: 'see `skiff logs` for the guest console',
      });
    }
    if (Date.now() > deadline) {
      throw new SkiffError('start-timeout', `the Docker engine of machine "${m.name}" did not answer in time`, {
        hint: 'see `skiff logs`; the machine is left running, `skiff stop` stops it',
      });
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** Starts a promise now and lets it be awaited later without an unhandled rejection in between. */
function settle<T>(p: Promise<T>): Promise<T> {
  const kept = p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  return kept.then((r) => {
    if (r.ok) return r.value;
    throw r.error;
  });
}
