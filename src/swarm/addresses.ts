import { ExitCode, SkiffError } from '../errors.js';

/**
 * Choosing the addresses of a swarm made of existing machines, from what their
 * hosts say (`ip` output, TCP probes). Pure: swarm/host-probe.ts does the I/O.
 */

export interface HostAddress {
  iface: string;
  address: string;
}

/** The port Swarm's managers listen on; workers join there. */
export const SWARM_PORT = 2377;

/**
 * Interfaces whose addresses another machine can never use to reach this one:
 * the engine's bridges (every engine has 172.17.0.1) and Swarm's own
 * (docker_gwbridge, and the vxlan/overlay links some setups show in the host).
 */
const NOT_CANDIDATES = [/^docker0$/, /^docker_gwbridge$/, /^br-/, /^veth/, /^vx-/, /^ov-/];

/** `ip -4 -o addr show scope global` (iproute2's or busybox's) as interface and address pairs, in order. */
export function parseIpAddr(output: string): HostAddress[] {
  const out: HostAddress[] = [];
  for (const line of output.split('\n')) {
    const m = /^\d+:\s+(\S+)\s+inet\s+(\d{1,3}(?:\.\d{1,3}){3})\//.exec(line.trim());
    // A veth shows as "veth1@if5".
    if (m) out.push({ iface: m[1]!.replace(/@.*$/, ''), address: m[2]! });
  }
  return out;
}

/** The addresses a manager may advertise: its global IPv4 addresses minus the engine's and Swarm's own. */
export function candidateAddresses(addrs: HostAddress[]): string[] {
  const out: string[] = [];
  for (const a of addrs) if (!NOT_CANDIDATES.some((re) => re.test(a.iface)) && !out.includes(a.address)) out.push(a.address);
  return out;
}

/** `ip -4 route get ADDR`'s "src X": the address a host's packets to ADDR leave from. */
export function parseRouteSource(output: string): string | undefined {
  return /\bsrc\s+(\d{1,3}(?:\.\d{1,3}){3})\b/.exec(output)?.[1];
}

/** What a worker's TCP probe of a manager address to port 2377 found. */
export type Probe = { reachable: true } | { reachable: false; why: string };

/**
 * Before `swarm init` nothing listens on 2377, so a refused connection proves the
 * address reaches the manager; only silence (a timeout) or a routing error does
 * not. A connection that is accepted then was accepted by someone else (a proxy,
 * a NAT that answers for any address), unless the manager already listens (it is
 * a manager, and only workers join). `code` 124 and 143 are GNU's and busybox's
 * `timeout` running out.
 */
export function probeOutcome(code: number, stderr: string, managerListens: boolean): Probe {
  if (code === 0) return managerListens ? { reachable: true } : { reachable: false, why: 'something else answered (a proxy or NAT?)' };
  if (/refused/i.test(stderr)) return { reachable: true };
  const said = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .pop();
  if (code === 124 || code === 143) return { reachable: false, why: 'no answer within 3 s' };
  // bash prints "bash: connect: No route to host" then "bash: /dev/tcp/...: No route to host".
  return { reachable: false, why: said ? said.replace(/^.*:\s*/, '') : `probe failed (exit ${code})` };
}

/** What one worker said about the manager's candidates. */
export interface WorkerView {
  machine: string;
  /** Every IPv4 address the worker holds itself. */
  holds: string[];
  /** Its probe of each candidate it does not hold. */
  probes: Map<string, Probe>;
}

/** Why `worker` cannot use `address`, or undefined when it can. */
function unusable(w: WorkerView, address: string): string | undefined {
  if (w.holds.includes(address)) return 'holds it itself';
  const p = w.probes.get(address);
  if (!p) return 'not probed';
  return p.reachable ? undefined : p.why;
}

/**
 * The manager's advertise address: the first candidate every worker reaches and
 * does not hold itself (QEMU user-mode guests all hold 10.0.2.15, and a worker
 * "reaching" it reaches itself). A swarm of one takes the first candidate.
 */
export function chooseAdvertiseAddress(manager: string, candidates: string[], workers: WorkerView[]): string {
  if (candidates.length === 0) {
    throw new SkiffError('no-advertise-address', `the manager ${manager} has no global IPv4 address another machine could reach`, {
      hint: `see \`ip -4 addr\` on ${manager}; give one with --advertise-addr`,
      exitCode: ExitCode.conflict,
    });
  }
  const chosen = candidates.find((a) => workers.every((w) => unusable(w, a) === undefined));
  if (chosen) return chosen;
  const said = candidates.map((a) => `${a} (${workers.map((w) => `${w.machine}: ${unusable(w, a) ?? 'reaches it'}`).join(', ')})`);
  throw new SkiffError('no-advertise-address', `no address of the manager ${manager} is reachable from every worker: ${said.join('; ')}`, {
    hint: `give the address the workers reach it at with --advertise-addr (one of ${candidates.join(', ')})`,
    exitCode: ExitCode.conflict,
  });
}

/** --advertise-addr must be one of the manager's own addresses: Swarm listens on it there. */
export function checkAdvertiseAddress(manager: string, given: string, candidates: string[]): string {
  if (!candidates.includes(given)) {
    throw new SkiffError('bad-advertise-address', `--advertise-addr ${given} is not an address of the manager ${manager}; its addresses: ${candidates.join(', ') || 'none'}`, {
      hint: 'give one of those, or leave out --advertise-addr to choose one the workers reach',
      exitCode: ExitCode.usage,
    });
  }
  return given;
}
