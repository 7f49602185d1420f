import { ExitCode, SkiffError } from '../errors.js';
import { validateNetworkName } from '../network/store.js';
import { findSwarm } from './find.js';
import { parseAdvertiseAddr, parseMachineList } from './machine-list.js';
import { swarmUp, type SwarmUpRequest, type SwarmUpResult } from './up.js';
import { swarmUpMachines } from './up-machines.js';

export interface SwarmUpAnyRequest extends SwarmUpRequest {
  /** --machines as typed ("a,b,c"): a swarm of machines that exist. */
  machines?: string;
  advertiseAddr?: string;
}

/**
 * `swarm up`: a swarm of existing machines when --machines is given or swarm S
 * was made so; otherwise skiff's own S-1..S-N on network S. Every option that
 * does not fit the kind is refused before anything is read from a machine.
 */
export async function swarmUpAny(req: SwarmUpAnyRequest): Promise<SwarmUpResult> {
  validateNetworkName(req.swarm);
  const names = req.machines === undefined ? undefined : parseMachineList(req.machines);
  const advertiseAddr = req.advertiseAddr === undefined ? undefined : parseAdvertiseAddr(req.advertiseAddr);
  const initOptions = Object.keys(req.settings);
  if (names) refuseMachineOptions('--machines takes machines that exist', req.nodes, initOptions);
  const found = await findSwarm(req.home, req.swarm);
  if (names && found?.kind === 'network') {
    throw new SkiffError('swarm-is-network', `swarm "${req.swarm}" is skiff's own, on network "${req.swarm}" (${found.machines.map((m) => m.name).join(', ')}); --machines cannot name its members`, {
      hint: 'give a swarm of existing machines another --name',
      exitCode: ExitCode.conflict,
    });
  }
  if (found?.kind === 'machines') {
    if (!names) refuseMachineOptions(`swarm "${req.swarm}" is made of existing machines (${found.record.machines.join(', ')})`, req.nodes, initOptions);
    return swarmUpMachines({ ...req, machines: names ?? found.record.machines, ...(advertiseAddr ? { advertiseAddr } : {}) });
  }
  if (names) return swarmUpMachines({ ...req, machines: names, ...(advertiseAddr ? { advertiseAddr } : {}) });
  if (advertiseAddr !== undefined) {
    throw new SkiffError('invalid-option', `--advertise-addr is for a swarm of existing machines; swarm "${req.swarm}" is skiff's own, which advertises its private addresses`, {
      hint: 'add --machines a,b,... to make a swarm of machines that exist, or leave out --advertise-addr',
      exitCode: ExitCode.usage,
    });
  }
  return swarmUp(req);
}

function refuseMachineOptions(why: string, nodes: number | undefined, initOptions: string[]): void {
  if (nodes !== undefined) {
    throw new SkiffError('invalid-option', `${why}: --nodes does not apply`, {
      hint: 'leave out --nodes (the swarm is the machines given with --machines)',
      exitCode: ExitCode.usage,
    });
  }
  if (initOptions.length > 0) {
    throw new SkiffError('invalid-option', `${why}: init options (${initOptions.map((o) => (o === 'shares' ? 'share' : o)).join(', ')}) do not apply`, {
      hint: "leave them out; change a machine's settings with skiff init or its config.yaml",
      exitCode: ExitCode.usage,
    });
  }
}
