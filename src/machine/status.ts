import { agentStatus, stopAgent, type AgentStatus } from '../agent/control.js';
import { readVmEnd, type VmEnd } from '../agent/vm-end.js';
import type { PortStatus } from '../agent/ports/listeners.js';
import type { DriverInfo, SavedState, VmState } from '../drivers/driver.js';
import { pauseCause, type PauseCause } from '../drivers/pause.js';
import { guestDiskUse, type DiskUse } from './disk-use.js';
import { contextName } from '../shell/docker-context.js';
import { engineVersion } from './engine.js';
import type { Machine } from './machine.js';
import { isRemote } from './config.js';
import type { MachinePaths } from '../layout/paths.js';
import type { RemoteHost } from '../remote/host.js';
import { loadPinnedHostKey } from '../ssh/hostkey.js';
import { shareMountFor } from './shares.js';
import { shareWatchStates, type ShareWatch } from './share-watch.js';

export interface MachineStatus {
  name: string;
  /** crashed: the VM died without `skiff stop` (see `ended`); `start` recovers it. */
  state: VmState | 'crashed';
  /** Why a paused VM is paused (a full host disk: it goes on by itself once there is space). */
  paused?: PauseCause;
  /** The state `skiff suspend` saved, which `start` resumes. */
  suspended?: SavedState;
  /** How the last run ended without `skiff stop`, while the machine has not been started since. */
  ended?: VmEnd;
  driver: string;
  arch: string;
  /** Images of the other architecture run through binfmt_misc (applied at the next start). */
  binfmt: boolean;
  accelerator?: string;
  /** A VM's resources; a remote host has its own (absent). */
  cpus?: number;
  memoryMiB?: number;
  diskGiB?: number;
  /** A remote host (the ssh driver): where skiff logs in, how, and the host key it pinned. */
  remote?: { host: string; port: number; user: string; auth: string; hostKey: string; engineSocket: string };
  /** The guest's data disk (images, containers, volumes) as its file system reports it, while running. */
  dataDisk?: DiskUse;
  image?: { source: string; sha256: string };
  socket: string;
  dockerContext: string;
  ssh?: { host: string; port: number };
  agent: { state: string; detail?: string };
  engine?: { version: string; apiVersion: string };
  /** Host folders visible in the guest, and how the guest mounts them (file system and options). */
  shares: Array<{ hostPath: string; guestPath: string; readOnly: boolean; fs: string; options: string; watch: ShareWatch }>;
  /** Container ports published on the host's 127.0.0.1, with any that could not be. */
  ports?: PortStatus[];
}

/** Reads the truth from the hypervisor, the agent and the engine; changes nothing. */
export async function machineStatus(m: Machine): Promise<MachineStatus> {
  const state = await m.driver.state();
  const running = state === 'running';
  const [info, ssh, agent] = await Promise.all([
    m.driver.info().catch(() => ({}) as DriverInfo),
    running ? m.driver.sshEndpoint() : Promise.resolve(undefined),
    agentStatus(m.paths).then((a) => (running ? a : reapOrphanAgent(m, a))),
  ]);
  const ended = state === 'stopped' ? await readVmEnd(m.paths.vmEnd) : undefined;
  const paused = state === 'paused' ? await pausedBecause(m) : undefined;
  const suspended = state === 'suspended' ? await m.driver.savedState() : undefined;
  const [engine, dataDisk] = await Promise.all([
    running && agent.state === 'running' ? engineVersion(m.paths.dockerSocket) : undefined,
    ssh && running && !isRemote(m.config) ? guestDiskUse(m, ssh) : undefined,
  ]);
  return {
    name: m.name,
    state: ended?.kind === 'crashed' ? 'crashed' : state,
    ...(paused ? { paused } : {}),
    ...(suspended ? { suspended } : {}),
    ...(ended ? { ended } : {}),
    driver: m.config.driver,
    arch: m.config.arch,
    binfmt: m.config.binfmt,
    ...(info.accelerator ? { accelerator: info.accelerator } : {}),
    ...(isRemote(m.config)
      ? { remote: await remoteStatus(m.paths, m.config.remote) }
      : {
          cpus: m.config.cpus,
          memoryMiB: m.config.memoryMiB,
          diskGiB: m.config.diskGiB,
          image: { source: m.config.image.source, sha256: m.config.image.sha256 },
        }),
    ...(dataDisk ? { dataDisk } : {}),
    shares: shareWatchStates(m.config, agent.state === 'running' ? agent.report?.watch : undefined).map((watch, i) => ({
      ...m.config.shares[i]!,
      ...shareMountFor(m.config.driver, info.shareFs),
      watch,
    })),
    socket: m.paths.dockerSocket,
    dockerContext: contextName(m.name),
    ...(ssh ? { ssh } : {}),
    agent: { state: agent.state, ...(agent.detail ? { detail: agent.detail } : {}) },
    ...(engine ? { engine } : {}),
    ...(agent.state === 'running' && agent.report?.ports ? { ports: agent.report.ports } : {}),
  };
}

async function remoteStatus(paths: MachinePaths, r: RemoteHost): Promise<NonNullable<MachineStatus['remote']>> {
  const hostKey = await loadPinnedHostKey(paths.hostPub).then(
    (k) => k.fingerprint,
    () => 'missing',
  );
  return { host: r.host, port: r.port, user: r.user, auth: r.identity ? `identity ${r.identity}` : 'SSH agent', hostKey, engineSocket: r.engineSocket };
}

/** Why the hypervisor says the VM is paused; undefined when it cannot say (status never fails on it). */
export async function pausedBecause(m: Machine): Promise<PauseCause | undefined> {
  const ctl = m.driver.pauseControl();
  return ctl ? pauseCause(ctl).catch(() => undefined) : undefined;
}

/**
 * An agent whose VM is not running has nothing to serve. Its own VM watch ends it
 * within seconds; one that has none (started by an older skiff) or is stuck is
 * stopped here, but only if no other command holds the machine (a `start` may be
 * about to use it): status never waits.
 */
async function reapOrphanAgent(m: Machine, a: AgentStatus): Promise<AgentStatus> {
  if (a.state === 'stopped') return a;
  try {
    await m.lock(async () => {
      const st = await m.driver.state();
      if (st === 'stopped' || st === 'suspended') await stopAgent(m.paths);
    }, { waitMs: 0 });
  } catch {
    return a;
  }
  return agentStatus(m.paths);
}
