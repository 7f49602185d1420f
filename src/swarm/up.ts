import type { VmState } from '../drivers/driver.js';
import { ExitCode, SkiffError } from '../errors.js';
import type { ResolvedImage } from '../image/store.js';
import type { UserSettings, VmConfig } from '../machine/config.js';
import { findOrCreate } from '../machine/init.js';
import { Machine } from '../machine/machine.js';
import { serving } from '../machine/readiness.js';
import { startMachine } from '../machine/start.js';
import { validateNetworkName } from '../network/store.js';
import { silentProgress } from '../progress.js';
import { converge, localSwarm, managerNodes } from './converge.js';
import { withSwarmLock } from './lock.js';
import { existingNodeCount, nodeCountFor, nodeNames, privateAddresses } from './members.js';
import type { LocalSwarm, SwarmNode, SwarmStep } from './model.js';
import { readSwarm, statusOf, type SwarmStatus } from './status.js';
import { sleep } from '../util/wait.js';

export interface SwarmUpRequest {
  home: string;
  swarm: string;
  /** How many nodes; undefined: as many as the swarm has (2 for a new one). */
  nodes?: number;
  /** init options for machines that do not exist yet; a network, if given, must be the swarm's. */
  settings: UserSettings;
  resolveImage(source: { iso?: string; checksum?: string; arch: VmConfig['arch'] }): Promise<ResolvedImage>;
  progress(text: string): void;
  /** How long the nodes may take to show Ready after joining. */
  readyTimeoutMs?: number;
}

export interface SwarmUpResult {
  created: string[];
  started: string[];
  steps: SwarmStep[];
  /** Nothing was created, started, repaired or joined: the swarm was up. */
  alreadyUp: boolean;
  status: SwarmStatus;
}

/**
 * Creates what is missing, starts what is stopped (all at once), then makes S-1
 * the manager and the others its workers. On a running, healthy swarm each
 * machine is asked once for its VM state, agent and /info, the manager once for
 * /nodes, and it returns.
 */
export async function swarmUp(req: SwarmUpRequest): Promise<SwarmUpResult> {
  validateNetworkName(req.swarm);
  if (req.settings.network !== undefined && req.settings.network !== req.swarm) {
    throw new SkiffError('invalid-settings', `a swarm's machines are on the network of its name ("${req.swarm}"), not "${req.settings.network}"`, {
      hint: 'leave out --network, or give --name instead',
      exitCode: ExitCode.usage,
    });
  }
  const names = nodeNames(req.swarm, nodeCountFor(req.swarm, req.nodes, await existingNodeCount(req.home, req.swarm)));
  const existing = await Promise.all(names.map((n) => Machine.find(req.home, n)));
  // Every name is checked before anything is created: a refusal leaves nothing half-made.
  for (const [i, m] of existing.entries()) {
    if (m && m.config.network?.name !== req.swarm) {
      const on = m.config.network ? `is on network "${m.config.network.name}"` : 'is on no private network';
      throw new SkiffError('not-in-swarm', `machine "${names[i]}" exists but ${on}, not "${req.swarm}"`, {
        hint: `delete it (skiff delete -y -m ${names[i]}) or choose another --name`,
        exitCode: ExitCode.conflict,
      });
    }
  }

  const created: string[] = [];
  const machines: Machine[] = [];
  for (const [i, name] of names.entries()) {
    const m =
      existing[i] ??
      (await findOrCreate(req.home, name, async () => {
        req.progress(`creating machine ${name}`);
        created.push(name);
        return { home: req.home, name, settings: { ...req.settings, network: req.swarm }, resolveImage: req.resolveImage };
      })).machine;
    machines.push(m);
  }

  const { looks, notServing, started } = await startAll(machines, req.progress);

  const [manager, ...workers] = machines as [Machine, ...Machine[]];
  const { steps, unchanged } = await withSwarmLock(
    req.home,
    req.swarm,
    async () => {
      const c = await converge({ swarm: req.swarm, manager, workers, addresses: async () => privateAddresses(manager, workers), progress: req.progress });
      await waitReady(manager, machines, req.readyTimeoutMs ?? 120_000, req.progress, c.unchanged);
      return c;
    },
    { onWait: () => req.progress(`another skiff command is working on swarm ${req.swarm}; waiting for it`) },
  );
  const alreadyUp = created.length === 0 && notServing.length === 0 && steps.length === 0;
  // Nothing changed: what converge read is the status; otherwise read it again.
  const reading = unchanged && notServing.length === 0 ? { vms: looks.map((l) => l.vm), ...unchanged } : await readSwarm(machines);
  return { created, started, steps, alreadyUp, status: statusOf(req.swarm, machines, reading) };
}

/**
 * One look per machine (VM state, agent, engine ping); only those not serving go
 * through start, all at once. `started`: the ones whose VM was not running.
 */
export async function startAll(
  machines: Machine[],
  progress: (text: string) => void,
): Promise<{ looks: Array<{ vm: VmState; serving: boolean }>; notServing: Machine[]; started: string[] }> {
  const looks = await Promise.all(machines.map(look));
  const notServing = machines.filter((_, i) => !looks[i]!.serving);
  const started = machines.filter((_, i) => looks[i]!.vm !== 'running').map((m) => m.name);
  if (started.length) progress(`starting ${started.join(', ')}`);
  await Promise.all(notServing.map((m) => startMachine(m, silentProgress())));
  return { looks, notServing, started };
}

/** Running with a live agent and an engine that answers: nothing for start to do. */
export async function look(m: Machine): Promise<{ vm: VmState; serving: boolean }> {
  const vm = await m.driver.state();
  return { vm, serving: vm === 'running' && (await serving(m)) };
}

/**
 * Every node of ours shows Ready on the manager (a node that just joined or
 * rebooted takes a few seconds). `known`: /info and /nodes just read and still
 * true, so a healthy swarm costs no further call.
 */
export async function waitReady(
  manager: Machine,
  machines: Machine[],
  timeoutMs: number,
  progress: (t: string) => void,
  known?: { locals: LocalSwarm[]; nodes: SwarmNode[] },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const locals = known?.locals ?? (await Promise.all(machines.map((m) => localSwarm(m))));
  const ids = new Map(locals.map((l, i) => [l.nodeId, machines[i]!.name] as const));
  let nodes = known?.nodes;
  let said = false;
  for (;;) {
    nodes ??= await managerNodes(manager);
    const notReady = [...ids].filter(([id]) => nodes!.find((n) => n.id === id)?.state !== 'ready').map(([, name]) => name);
    if (notReady.length === 0) return;
    if (Date.now() > deadline) {
      throw new SkiffError('swarm-not-ready', `swarm nodes not Ready after ${Math.round(timeoutMs / 1000)} s: ${notReady.join(', ')}`, {
        hint: `see \`skiff swarm status\` and \`skiff ssh -m ${notReady[0]} -- tail /var/log/dockerd.log\``,
      });
    }
    if (!said) progress(`waiting for ${notReady.join(', ')} to be Ready`);
    said = true;
    await sleep(500);
    nodes = undefined;
  }
}
