import { ExitCode, SkiffError } from '../errors.js';
import { Machine } from '../machine/machine.js';
import { SWARM_PORT } from './addresses.js';
import { converge, type SwarmAddresses } from './converge.js';
import { chooseAddresses, type ChosenAddresses } from './host-probe.js';
import { withSwarmLock } from './lock.js';
import { listSwarmRecords, loadSwarmRecord, saveSwarmRecord, type SwarmRecord } from './record.js';
import { readSwarm, recordedAddress, statusOf } from './status.js';
import { startAll, waitReady, type SwarmUpResult } from './up.js';

export interface SwarmUpMachinesRequest {
  home: string;
  swarm: string;
  /** In order, the manager first; checked by parseMachineList. */
  machines: string[];
  /** --advertise-addr, checked by parseAdvertiseAddr. */
  advertiseAddr?: string;
  progress(text: string): void;
  readyTimeoutMs?: number;
}

/**
 * A swarm of machines that already exist, of any driver: every name is checked
 * before anything starts, the stopped ones are started, the first becomes the
 * manager and the others its workers, and swarms/S.yaml records who they are.
 * Run again it re-converges the recorded swarm, as swarmUp does.
 */
export async function swarmUpMachines(req: SwarmUpMachinesRequest): Promise<SwarmUpResult & { addresses?: SwarmRecord['addresses'] }> {
  const machines = await existingMachines(req.home, req.machines);
  for (const m of machines) refuseNetworkNode(m);
  await checkMembership(req.home, req.swarm, req.machines);

  const { looks, notServing, started } = await startAll(machines, req.progress);

  const [manager, ...workers] = machines as [Machine, ...Machine[]];
  return withSwarmLock(
    req.home,
    req.swarm,
    async () => {
      // Another `swarm up` may have recorded a swarm while this one waited for the lock.
      const before = await checkMembership(req.home, req.swarm, req.machines);
      let record: SwarmRecord = before ?? { version: 1, name: req.swarm, machines: req.machines, createdAt: new Date().toISOString() };
      const c = await converge({
        swarm: req.swarm,
        manager,
        workers,
        progress: req.progress,
        addresses: async (steps) => {
          req.progress(`choosing the addresses of ${req.machines.join(', ')}`);
          const managerListens = !steps.some((s) => s.kind === 'init');
          const chosen = await chooseAddresses(manager, workers, { given: req.advertiseAddr, preferred: record.addresses?.manager, managerListens });
          // Recorded before the swarm changes: a failure past here leaves a swarm `swarm rm` knows.
          record = { ...record, addresses: { manager: chosen.manager, workers: chosen.workers } };
          await saveSwarmRecord(req.home, record);
          return convergeAddresses(chosen);
        },
      });
      if (!before || c.steps.length > 0) await saveSwarmRecord(req.home, record);
      await waitReady(manager, machines, req.readyTimeoutMs ?? 120_000, req.progress, c.unchanged);
      const reading = c.unchanged && notServing.length === 0 ? { vms: looks.map((l) => l.vm), ...c.unchanged } : await readSwarm(machines);
      return {
        created: [],
        started,
        steps: c.steps,
        alreadyUp: before !== undefined && notServing.length === 0 && c.steps.length === 0,
        status: statusOf(req.swarm, machines, reading, recordedAddress(record)),
        ...(record.addresses ? { addresses: record.addresses } : {}),
      };
    },
    { onWait: () => req.progress(`another skiff command is working on swarm ${req.swarm}; waiting for it`) },
  );
}

/**
 * A host's address may come from DHCP and change: Swarm listens on every
 * address and advertises the chosen one, unlike a network-made swarm, whose
 * private addresses skiff assigns.
 */
function convergeAddresses(chosen: ChosenAddresses): SwarmAddresses {
  const at = (a: string) => ({ advertise: a, listen: `0.0.0.0:${SWARM_PORT}` });
  return { manager: at(chosen.manager), workers: Object.fromEntries(Object.entries(chosen.workers).map(([n, a]) => [n, at(a)])) };
}

/** Every named machine, loaded; all missing ones named in one error. */
async function existingMachines(home: string, names: string[]): Promise<Machine[]> {
  const found = await Promise.all(names.map((n) => Machine.find(home, n)));
  const missing = names.filter((_, i) => !found[i]);
  if (missing.length > 0) {
    const list = missing.map((n) => `"${n}"`).join(', ');
    throw new SkiffError('no-machine', `there is no machine ${list}`, {
      hint: `--machines takes machines that exist: create ${missing.length > 1 ? 'them' : 'it'} first (skiff init -m ${missing[0]}), or see \`skiff list\``,
      exitCode: ExitCode.notFound,
    });
  }
  return found as Machine[];
}

/** S-k on network S is a node of the swarm skiff made there: taking it would break that swarm. */
function refuseNetworkNode(m: Machine): void {
  const net = m.config.network?.name;
  if (net !== undefined && new RegExp(`^${net}-\\d+$`).test(m.name)) {
    throw new SkiffError('in-another-swarm', `machine "${m.name}" is a node of swarm "${net}" (skiff's, on network "${net}")`, {
      hint: `leave it out, or delete that swarm first: \`skiff swarm rm --yes --name ${net}\``,
      exitCode: ExitCode.conflict,
    });
  }
}

/**
 * The swarm's record, if any, must list exactly these machines (a swarm's
 * members are changed by making it again), and no other swarm's record may
 * hold one of them. Returns the record.
 */
async function checkMembership(home: string, swarm: string, names: string[]): Promise<SwarmRecord | undefined> {
  const record = await loadSwarmRecord(home, swarm);
  if (record && record.machines.join(',') !== names.join(',')) {
    throw new SkiffError('swarm-machines-differ', `swarm "${swarm}" is made of ${record.machines.join(', ')}, not ${names.join(', ')}`, {
      hint: `leave out --machines to bring it up; to change its machines: \`skiff swarm rm --yes --name ${swarm}\` (they are kept), then swarm up again`,
      exitCode: ExitCode.conflict,
    });
  }
  for (const other of await listSwarmRecords(home)) {
    if (other.name === swarm) continue;
    const taken = names.find((n) => other.machines.includes(n));
    if (taken !== undefined) {
      throw new SkiffError('in-another-swarm', `machine "${taken}" is in swarm "${other.name}" already`, {
        hint: `leave it out, or take that swarm apart first: \`skiff swarm rm --yes --name ${other.name}\` (its machines are kept)`,
        exitCode: ExitCode.conflict,
      });
    }
  }
  return record;
}
