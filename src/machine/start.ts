import { errorMessage, ExitCode, SkiffError } from '../errors.js';
import { launchAgent, stopAgent, type AgentLaunch } from '../agent/control.js';
import type { AgentSpec } from '../agent/spec.js';
import type { ShareFs, SshEndpoint, VmWatch } from '../drivers/driver.js';
import { readVmEnd, type VmEnd } from '../agent/vm-end.js';
import { rm } from 'node:fs/promises';
import { contextName, updateDockerContext } from '../shell/docker-context.js';
import type { Progress, StageTiming } from '../progress.js';
import { serving, waitUntilReady, watchGuest, type GuestConsole } from './readiness.js';
import { resumePaused } from './resume.js';
import { checkShareHostPaths } from './shares.js';
import { mountCommandFor, sharesMounted } from './shares-mount.js';
import type { Machine } from './machine.js';
import { watchSpecFor } from './watch-spec.js';
import { isRemote } from './config.js';
import { remoteAuth } from '../remote/login.js';

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
  /** It went on from the state `skiff suspend` saved, containers and all. */
  resumed?: boolean;
  /** Why a saved state was thrown away and the machine booted cold instead (a phrase after "the saved state"). */
  savedStateDiscarded?: string;
}

function agentSpecFor(m: Machine, ssh: SshEndpoint, vm?: VmWatch, shareFs?: ShareFs): AgentSpec {
  const p = m.paths;
  const udp = m.driver.udpForwarding();
  const pause = m.driver.pauseControl();
  const watch = watchSpecFor(m);
  const mounts = mountCommandFor(m, shareFs);
  return {
    ...(vm ? { vm, vmEndPath: p.vmEnd, consoleLog: p.consoleLog } : {}),
    machine: m.name,
    sshHost: ssh.host,
    sshPort: ssh.port,
    ...loginFor(m),
    hostPubPath: p.hostPub,
    socketPath: p.dockerSocket,
    pidPath: p.agentPid,
    statePath: p.agentState,
    logPath: p.agentLog,
    ...(udp ? { udp } : {}),
    ...(pause ? { pause } : {}),
    ...(watch ? { watch } : {}),
    ...(mounts ? { mounts: { command: mounts } } : {}),
  };
}

/** Who the agent logs in as: root with the machine's key in a guest; a remote host's user, key or SSH agent. */
function loginFor(m: Machine): Pick<AgentSpec, 'user' | 'keyPath' | 'sshAgent' | 'remoteSocket' | 'remoteHost'> {
  if (!isRemote(m.config)) return { user: 'root', keyPath: m.paths.sshKey };
  const r = m.config.remote;
  const auth = remoteAuth(r, m.name);
  return {
    user: r.user,
    ...(auth.identity ? { keyPath: auth.identity } : {}),
    ...(auth.agent ? { sshAgent: auth.agent } : {}),
    remoteSocket: r.engineSocket,
    remoteHost: true,
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
  let state = await m.driver.state();
  const socket = m.paths.dockerSocket;
  // The docker context is a convenience: a ~/.docker skiff cannot write (root-owned
  // after a `sudo docker login`) must not stop the machine, unless it was asked for.
  const context = await updateDockerContext(m.name, socket, { use: opts.useContext ?? false }).catch((e: unknown) => {
    if (opts.useContext) throw e;
    ui.notice(`warning: docker context not updated: ${errorMessage(e)}`);
    return contextName(m.name);
  });

  let discarded: string | undefined;
  if (state === 'suspended') {
    ui.stage('resume', 'resuming the saved VM');
    const ahead = agentAhead(m);
    const r = await m.driver.resume({ notice: (msg) => ui.notice(msg), sshEndpoint: (ssh, shareFs) => ahead.launch(ssh, shareFs) }).catch(async (e: unknown) => {
      await ahead.abandon();
      throw e;
    });
    if (r.resumed) {
      const { sharesNotMounted } = await connect(m, ui, r.ssh, { deadline, agent: await ahead.for(r.ssh) });
      return { alreadyRunning: false, socket, ssh: r.ssh, timings: ui.timings, context, sharesNotMounted, resumed: true };
    }
    await ahead.abandon();
    discarded = r.why;
    ui.notice(savedStateDiscardedText(m.name, r.why));
    state = await m.driver.state();
  }
  if (state === 'paused') state = await resumePaused(m, ui);
  if (state === 'running') {
    // A suspend killed after its save, before QEMU quit: the VM ran on, so that state is stale.
    await m.driver.discardSavedState();
    const ssh = await m.driver.sshEndpoint();
    if (!ssh) throw new SkiffError('no-endpoint', `machine "${m.name}" runs but its SSH port is unknown`, { hint: 'run `skiff restart`' });
    if (await serving(m)) {
      return { alreadyRunning: true, socket, ssh, timings: [], context, sharesNotMounted: [] };
    }
    if (isRemote(m.config)) {
      // Connected once, but the agent is gone: connect anew, through the checks that say why a host cannot be reached.
      await stopAgent(m.paths);
      await m.driver.stop();
      state = 'stopped';
    } else {
      // The VM survived but the agent did not (crash, host reboot of the agent only, kill).
      ui.stage('agent', 'reconnecting to the running machine');
      await stopAgent(m.paths);
      const { sharesNotMounted } = await connect(m, ui, ssh, { deadline });
      return { alreadyRunning: true, socket, ssh, timings: ui.timings, context, sharesNotMounted };
    }
  }
  if (state !== 'stopped') {
    throw new SkiffError('bad-state', `machine "${m.name}" is ${state}`, {
      hint: 'wait for it, or `skiff stop --force` it',
      exitCode: ExitCode.conflict,
    });
  }

  await checkShareHostPaths(m.config.shares);
  await stopAgent(m.paths); // a leftover from a crash must not hold the socket path
  const ended = await readVmEnd(m.paths.vmEnd);
  if (ended) ui.notice(`recovering: the VM ${ended.kind === 'crashed' ? 'crashed' : 'stopped without `skiff stop`'} at ${ended.at} (${ended.cause})`);
  const remote = isRemote(m.config) ? m.config.remote : undefined;
  ui.stage('boot', remote ? `connecting to ${remote.user}@${remote.host}` : 'booting the VM');
  // A remote host has no console of ours to read.
  const guest = remote ? undefined : await watchGuest(m, ui);
  const ssh = await m.driver.start({ notice: (msg) => ui.notice(msg) });
  const { sharesNotMounted } = await connect(m, ui, ssh, { deadline, ...(guest ? { guest } : {}) }).catch(async (e: unknown) => {
    // A VM is left running for `skiff ssh`; a remote host was only ever connected to.
    if (remote) await m.driver.stop();
    throw e;
  });
  // Kept until now: a start that fails leaves `status` still saying why the last run ended.
  if (ended) await rm(m.paths.vmEnd, { force: true });
  return {
    alreadyRunning: false,
    socket,
    ssh,
    timings: ui.timings,
    context,
    sharesNotMounted,
    ...(ended ? { recovered: ended } : {}),
    ...(discarded ? { savedStateDiscarded: discarded } : {}),
  };
}

export function savedStateDiscardedText(name: string, why: string): string {
  return `the saved state of machine "${name}" ${why}: starting it cold instead (the data disk is intact; containers start as after a reboot)`;
}

/**
 * The agent on a VM that runs (booting, resumed or left running), and what the
 * guest needs from the host once sshd answers: its shares mounted (again, after
 * a suspend or an interrupted one), which the agent does over its own
 * connection, and, for drivers that cannot pass them at boot, the per-start
 * settings. Resolves once the engine answers and the shares are mounted.
 */
export async function connect(
  m: Machine,
  ui: Progress,
  ssh: SshEndpoint,
  opts: { deadline: number; guest?: GuestConsole; agent?: AgentLaunch },
): Promise<{ sharesNotMounted: string[] }> {
  // A suspend killed after it unplugged the virtiofs devices left the VM without them:
  // they go back before the agent mounts. (Nothing to do for a VM that has them.)
  if (m.config.shares.length) await m.driver.sharesReady?.().catch(() => undefined);
  // The agent retries the connection itself; it is started right away so the SSH
  // handshake happens the moment sshd listens, not at our next look.
  const agent = opts.agent ?? (await launchAgentFor(m, ssh));
  let settings: () => Promise<void> = async () => {};
  const shares = m.config.shares.length ? sharesMounted(m, agent) : undefined;
  await waitUntilReady(m, ui, agent, {
    deadline: opts.deadline,
    ...(opts.guest ? { guest: opts.guest } : {}),
    ...(shares ? { then: [shares] } : {}),
    // sshd is up once the agent is connected: apply the settings while dockerd starts.
    ...(m.driver.passesBootSettings ? {} : { onSshUp: () => (settings = settle(import('./boot-settings.js').then((s) => s.applyBootSettings(m, ssh)))) }),
  });
  await settings();
  return { sharesNotMounted: shares?.notMounted() ?? [] };
}

/** shareFs: what the driver mounts the shares with; by default, what the running VM says. */
async function launchAgentFor(m: Machine, ssh: SshEndpoint, shareFs?: ShareFs): Promise<AgentLaunch> {
  const fs = shareFs ?? (await m.driver.info().catch(() => ({ shareFs: undefined }))).shareFs;
  return launchAgent(agentSpecFor(m, ssh, await m.driver.watch(), fs));
}

/**
 * An agent launched while a driver resumes, as soon as it names the guest's SSH
 * endpoint: the agent's own start overlaps QEMU loading the state, and it logs
 * in the moment the guest runs. A driver that never names it gets one after.
 */
function agentAhead(m: Machine): {
  launch(ssh: SshEndpoint, shareFs?: ShareFs): void;
  for(ssh: SshEndpoint): Promise<AgentLaunch>;
  abandon(): Promise<void>;
} {
  let ahead: { ssh: SshEndpoint; agent: () => Promise<AgentLaunch> } | undefined;
  const fresh = async (ssh: SshEndpoint, shareFs?: ShareFs): Promise<AgentLaunch> => {
    // A leftover (or one launched for an endpoint that changed) must not hold the socket path.
    await stopAgent(m.paths);
    return launchAgentFor(m, ssh, shareFs);
  };
  const settled = async (): Promise<void> => {
    await ahead?.agent().catch(() => undefined);
  };
  return {
    launch(ssh, shareFs) {
      const before = settled();
      ahead = { ssh, agent: settle(before.then(() => fresh(ssh, shareFs))) };
    },
    async for(ssh) {
      if (ahead && ahead.ssh.host === ssh.host && ahead.ssh.port === ssh.port) return ahead.agent();
      await settled();
      return fresh(ssh);
    },
    async abandon() {
      if (!ahead) return;
      await settled();
      await stopAgent(m.paths);
    },
  };
}

/**
 * Starts a promise now; the function returned gives its outcome later. Unlike the
 * promise itself, nothing is left unhandled if it fails before anyone asks.
 */
function settle<T>(p: Promise<T>): () => Promise<T> {
  const kept = p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  return async () => {
    const r = await kept;
    if (r.ok) return r.value;
    throw r.error;
  };
}
