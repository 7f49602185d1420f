import { agentStatus } from '../agent/control.js';
import type { PortStatus } from '../agent/ports/listeners.js';
import type { VmState } from '../drivers/driver.js';
import { contextName } from '../shell/docker-context.js';
import { engineVersion } from './engine.js';
import type { Machine } from './machine.js';
import { shareMountFor } from './shares.js';

export interface MachineStatus {
  name: string;
  state: VmState;
  driver: string;
  arch: string;
  /** Images of the other architecture run through binfmt_misc (applied at the next start). */
  binfmt: boolean;
  accelerator?: string;
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
  image: { source: string; sha256: string };
  socket: string;
  dockerContext: string;
  ssh?: { host: string; port: number };
  agent: { state: string; detail?: string };
  engine?: { version: string; apiVersion: string };
  /** Host folders visible in the guest, and how the guest mounts them (file system and options). */
  shares: Array<{ hostPath: string; guestPath: string; readOnly: boolean; fs: string; options: string }>;
  /** Container ports published on the host's 127.0.0.1, with any that could not be. */
  ports?: PortStatus[];
}

/** Reads the truth from the hypervisor, the agent and the engine; changes nothing. */
export async function machineStatus(m: Machine): Promise<MachineStatus> {
  const state = await m.driver.state();
  const running = state === 'running';
  const [info, ssh, agent] = await Promise.all([
    m.driver.info().catch(() => ({}) as { accelerator?: string }),
    running ? m.driver.sshEndpoint() : Promise.resolve(undefined),
    agentStatus(m.paths),
  ]);
  const engine = running && agent.state === 'running' ? await engineVersion(m.paths.dockerSocket) : undefined;
  return {
    name: m.name,
    state,
    driver: m.config.driver,
    arch: m.config.arch,
    binfmt: m.config.binfmt,
    ...(info.accelerator ? { accelerator: info.accelerator } : {}),
    cpus: m.config.cpus,
    memoryMiB: m.config.memoryMiB,
    diskGiB: m.config.diskGiB,
    image: { source: m.config.image.source, sha256: m.config.image.sha256 },
    shares: m.config.shares.map((sh) => ({ ...sh, ...shareMountFor(m.config.driver) })),
    socket: m.paths.dockerSocket,
    dockerContext: contextName(m.name),
    ...(ssh ? { ssh } : {}),
    agent: { state: agent.state, ...(agent.detail ? { detail: agent.detail } : {}) },
    ...(engine ? { engine } : {}),
    ...(agent.state === 'running' && agent.link?.ports ? { ports: agent.link.ports } : {}),
  };
}
