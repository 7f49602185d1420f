import type { Machine } from '../machine/machine.js';
import { runningMachineSshTarget } from '../machine/ssh-target.js';
import { connectSsh } from '../ssh/connect.js';
import { execCollect, type ExecResult } from '../ssh/exec.js';
import { SkiffError, ExitCode } from '../errors.js';
import {
  SWARM_PORT,
  candidateAddresses,
  checkAdvertiseAddress,
  chooseAdvertiseAddress,
  parseIpAddr,
  parseRouteSource,
  probeOutcome,
  type Probe,
  type WorkerView,
} from './addresses.js';

/** The addresses a swarm of existing machines uses: the manager's advertise address, each worker's own. */
export interface ChosenAddresses {
  manager: string;
  workers: Record<string, string>;
}

type Run = (command: string) => Promise<ExecResult>;

/** One SSH connection to a running machine for the duration of fn (the same login `skiff ssh` uses). */
async function onHost<T>(m: Machine, fn: (run: Run) => Promise<T>): Promise<T> {
  const conn = await connectSsh(await runningMachineSshTarget(m));
  try {
    // A remote host's non-root login may lack the sbin directories where some distributions keep `ip`.
    return await fn((command) => execCollect(conn.client, `PATH="$PATH:/usr/sbin:/sbin"; ${command}`));
  } finally {
    conn.client.end();
    conn.socket.destroy();
  }
}

const IP_ADDR = 'ip -4 -o addr show scope global';

async function ipAddr(m: Machine, run: Run): Promise<ReturnType<typeof parseIpAddr>> {
  const r = await run(IP_ADDR);
  if (r.code !== 0) throw hostCommandFailed(m, IP_ADDR, r);
  return parseIpAddr(r.stdout.toString());
}

/**
 * bash's /dev/tcp where there is bash (any Linux host), else busybox nc (the
 * skiff guest has no bash); both say "Connection refused" the same way.
 */
function probeCommand(address: string): string {
  return (
    `if command -v bash >/dev/null 2>&1; then timeout 3 bash -c '</dev/tcp/${address}/${SWARM_PORT}'; ` +
    `else timeout 3 nc -w 3 ${address} ${SWARM_PORT} </dev/null; fi`
  );
}

/** A worker's addresses, its probes of the candidates (unless the address was given) and its route to each. */
async function workerView(w: Machine, run: Run, candidates: string[], probe: false | { managerListens: boolean }): Promise<WorkerView & { sources: Map<string, string | Error> }> {
  const holds = (await ipAddr(w, run)).map((a) => a.address);
  const probes = new Map<string, Probe>();
  const sources = new Map<string, string | Error>();
  const todo = candidates.filter((a) => !holds.includes(a));
  // A few at a time: each is a session on one connection, and sshd allows 10 (MaxSessions).
  for (let i = 0; i < todo.length; i += 4) {
    await Promise.all(
      todo.slice(i, i + 4).map(async (a) => {
        if (probe) {
          const r = await run(probeCommand(a));
          probes.set(a, probeOutcome(r.code, r.stderr.toString(), probe.managerListens));
        }
        sources.set(a, await routeSource(w, run, a).catch((e: Error) => e));
      }),
    );
  }
  return { machine: w.name, holds, probes, sources };
}

async function routeSource(w: Machine, run: Run, to: string): Promise<string> {
  const cmd = `ip -4 route get ${to}`;
  const r = await run(cmd);
  const src = r.code === 0 ? parseRouteSource(r.stdout.toString()) : undefined;
  if (!src) {
    throw new SkiffError('no-route-to-manager', `${w.name} has no route to the manager's address ${to}: ${firstLine(r.stderr.toString() || r.stdout.toString())}`, {
      hint: `check \`${cmd}\` on ${w.name}; or give another address with --advertise-addr`,
      exitCode: ExitCode.conflict,
    });
  }
  return src;
}

/**
 * Reads the manager's addresses, has every worker probe them, and returns the
 * manager's advertise address (`given` if any, checked; else `preferred` if the
 * manager still holds it; else the choice) and each worker's source
 * address towards it. One SSH connection per machine; the machines must be
 * running, and nothing on them changes.
 */
export async function chooseAddresses(
  manager: Machine,
  workers: Machine[],
  opts: { given?: string; preferred?: string; managerListens: boolean },
): Promise<ChosenAddresses> {
  const candidates = candidateAddresses(await onHost(manager, (run) => ipAddr(manager, run)));
  if (opts.given !== undefined) checkAdvertiseAddress(manager.name, opts.given, candidates);
  // The address the swarm was made with, while the manager still holds it: its workers know it by that.
  const given = opts.given ?? (opts.preferred !== undefined && candidates.includes(opts.preferred) ? opts.preferred : undefined);
  const asked = given === undefined ? candidates : [given];
  const views = await Promise.all(workers.map((w) => onHost(w, (run) => workerView(w, run, asked, given === undefined && { managerListens: opts.managerListens }))));
  const chosen = given ?? chooseAdvertiseAddress(manager.name, candidates, views);
  const out: Record<string, string> = {};
  for (const v of views) {
    const src = v.sources.get(chosen);
    if (src === undefined) {
      throw new SkiffError('advertise-address-local', `${v.machine} holds the address ${chosen} itself: it cannot reach the manager there`, {
        hint: 'give an address of the manager that the workers do not share with --advertise-addr',
        exitCode: ExitCode.usage,
      });
    }
    if (src instanceof Error) throw src;
    out[v.machine] = src;
  }
  return { manager: chosen, workers: out };
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] || 'no answer';
}

function hostCommandFailed(m: Machine, command: string, r: ExecResult): SkiffError {
  return new SkiffError('host-command-failed', `\`${command}\` failed on ${m.name} (exit ${r.code}): ${firstLine(r.stderr.toString())}`, {
    hint: `try it yourself: skiff ssh -m ${m.name} -- ${command}`,
  });
}
