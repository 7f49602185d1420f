import { ExitCode, SkiffError } from '../errors.js';
import type { ResolvedImage } from '../image/store.js';
import type { MachineConfig, UserSettings } from '../machine/config.js';
import { initMachine } from '../machine/init.js';
import { Machine } from '../machine/machine.js';
import { startMachine } from '../machine/start.js';
import { StageReporter } from '../ui/stages.js';
import { converge, managerNodes, localSwarm } from './converge.js';
import { nodeNames } from './members.js';
import type { SwarmStep } from './model.js';
import { swarmStatus, type SwarmStatus } from './status.js';

export interface SwarmUpRequest {
  home: string;
  swarm: string;
  nodes: number;
  /** init options for machines that do not exist yet (the network is the swarm's). */
  settings: UserSettings;
  resolveImage(source: { iso?: string; checksum?: string; arch: MachineConfig['arch'] }): Promise<ResolvedImage>;
  progress(text: string): void;
  /** How long the nodes may take to show Ready after joining. */
  readyTimeoutMs?: number;
}

export interface SwarmUpResult {
  created: string[];
  started: string[];
  steps: SwarmStep[];
  status: SwarmStatus;
}

/**
 * Creates what is missing, starts what is stopped (all at once), then makes S-1
 * the manager and the others its workers. On a running, healthy swarm every
 * step is a no-op, so it returns at once.
 */
export async function swarmUp(req: SwarmUpRequest): Promise<SwarmUpResult> {
  const names = nodeNames(req.swarm, req.nodes);
  const created: string[] = [];
  const machines: Machine[] = [];
  for (const name of names) {
    let m: Machine;
    try {
      m = await Machine.load(req.home, name);
    } catch (e) {
      if ((e as { code?: string }).code !== 'no-machine') throw e;
      req.progress(`creating machine ${name}`);
      m = await initMachine({ home: req.home, name, settings: { ...req.settings, network: req.swarm }, resolveImage: req.resolveImage }, { orLoad: true });
      created.push(name);
    }
    if (m.config.network?.name !== req.swarm) {
      throw new SkiffError('not-in-swarm', `machine "${name}" exists but is not on network "${req.swarm}"`, {
        hint: `delete it (skiff delete -y -m ${name}) or choose another --name`,
        exitCode: ExitCode.conflict,
      });
    }
    machines.push(m);
  }

  const states = await Promise.all(machines.map((m) => m.driver.state()));
  const stopped = machines.filter((_, i) => states[i] !== 'running').map((m) => m.name);
  if (stopped.length) req.progress(`starting ${stopped.join(', ')}`);
  // startMachine on a running machine with a live agent returns at once; it also repairs a dead agent.
  await Promise.all(machines.map(async (m) => startMachine(m, await StageReporter.create(false, false))));

  const [manager, ...workers] = machines as [Machine, ...Machine[]];
  const steps = await converge(manager, workers, req.progress);
  await waitReady(manager, machines, req.readyTimeoutMs ?? 120_000, req.progress);
  return { created, started: stopped, steps, status: await swarmStatus(req.home, req.swarm) };
}

/** Every node of ours shows Ready on the manager (a node that just joined or rebooted takes a few seconds). */
async function waitReady(manager: Machine, machines: Machine[], timeoutMs: number, progress: (t: string) => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const ids = new Map(await Promise.all(machines.map(async (m) => [(await localSwarm(m)).nodeId, m.name] as const)));
  let said = false;
  for (;;) {
    const nodes = await managerNodes(manager);
    const notReady = [...ids].filter(([id]) => nodes.find((n) => n.id === id)?.state !== 'ready').map(([, name]) => name);
    if (notReady.length === 0) return;
    if (Date.now() > deadline) {
      throw new SkiffError('swarm-not-ready', `swarm nodes not Ready after ${Math.round(timeoutMs / 1000)} s: ${notReady.join(', ')}`, {
        hint: `see \`skiff swarm status\` and \`skiff ssh -m ${notReady[0]} -- tail /var/log/dockerd.log\``,
      });
    }
    if (!said) progress(`waiting for ${notReady.join(', ')} to be Ready`);
    said = true;
    await new Promise((r) => setTimeout(r, 500));
  }
}
