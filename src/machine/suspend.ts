import { stopAgent } from '../agent/control.js';
import type { SavedState } from '../drivers/driver.js';
import { ExitCode, SkiffError } from '../errors.js';
import { machineFlag } from '../layout/paths.js';
import type { Progress } from '../progress.js';
import { connectSsh } from '../ssh/connect.js';
import { execCollect } from '../ssh/exec.js';
import { shQuote } from '../util/sh-quote.js';
import { engineRequest } from './engine.js';
import type { Machine } from './machine.js';
import { vmConfig } from './config.js';
import { serving } from './readiness.js';
import { MOUNTED_FN } from './shares-mount.js';
import { machineSshTarget } from './ssh-target.js';
import { connect } from './start.js';

export interface SuspendResult {
  /** False when the machine was suspended already. */
  suspended: boolean;
  saved: SavedState;
}

/**
 * `skiff suspend`: the running machine's memory and devices go to a file in its
 * directory and the VM stops; `skiff start` resumes it with its containers'
 * processes as they were. Before the save the guest flushes its file systems
 * (so a state that is later thrown away loses nothing that was written) and
 * unmounts its shares: a mounted 9p share blocks QEMU's migration (a virtiofs
 * device, mounted or not, does too: the driver unplugs it once unmounted), and
 * the host's files may change while the machine sleeps. Any failure leaves the
 * machine running and serving, its shares mounted again.
 */
export function suspendMachine(m: Machine, ui: Progress): Promise<SuspendResult> {
  vmConfig(m.config, 'suspend');
  return m.lock(() => suspendLocked(m, ui), {
    onWait: () => ui.stage('waiting', `another skiff command is using machine "${m.name}"; waiting for it`),
  });
}

async function suspendLocked(m: Machine, ui: Progress): Promise<SuspendResult> {
  const state = await m.driver.state();
  const already = state === 'suspended' ? await m.driver.savedState() : undefined;
  if (already) return { suspended: false, saved: already };
  if (state !== 'running') {
    throw new SkiffError('not-running', `machine "${m.name}" is ${state}, not running: there is nothing to suspend`, {
      hint: state === 'paused' ? `\`skiff start${machineFlag(m.name)}\` resumes it first` : `start it: skiff start${machineFlag(m.name)}`,
      exitCode: ExitCode.conflict,
    });
  }
  const ssh = await m.driver.sshEndpoint();
  if (!ssh || !(await serving(m))) {
    throw new SkiffError('not-serving', `machine "${m.name}" runs but its agent does not serve the engine: skiff cannot check what uses its shares`, {
      hint: `run \`skiff start${machineFlag(m.name)}\` to reconnect it, then suspend`,
      exitCode: ExitCode.conflict,
    });
  }
  ui.stage('quiesce', 'flushing the guest\u2019s disks and unmounting its shares');
  await refuseIfSharesInUse(m);
  // The agent is not needed past the check above, and its stop takes a while: both at once.
  const agentStopped = stopAgent(m.paths);
  try {
    await quiesceGuest(m, ssh);
  } catch (e) {
    await agentStopped;
    await reconnect(m, ui, ssh).catch(() => undefined);
    throw e;
  }
  await agentStopped;
  ui.stage('save', 'saving the VM state');
  try {
    return { suspended: true, saved: await m.driver.suspend() };
  } catch (e) {
    // The driver let the VM run on: give it back its agent and its shares.
    await reconnect(m, ui, ssh).catch(() => undefined);
    throw e;
  }
}

/** Containers that bind-mount a share would lose it under their feet: suspend refuses, naming them. */
async function refuseIfSharesInUse(m: Machine): Promise<void> {
  const guestPaths = m.config.shares.map((s) => s.guestPath);
  if (guestPaths.length === 0) return;
  const r = await engineRequest(m.paths.dockerSocket, '/containers/json', { timeoutMs: 10_000 });
  if (r.status !== 200) throw new SkiffError('engine-error', `the engine would not list the containers (HTTP ${r.status})`, { hint: 'see `skiff logs`' });
  const users = containersUsing(JSON.parse(r.body) as ContainerSummary[], guestPaths);
  if (users.length > 0) {
    throw new SkiffError('shares-in-use', `cannot suspend machine "${m.name}": ${users.join(', ')} ${users.length === 1 ? 'uses' : 'use'} a shared folder, which cannot be saved with the VM`, {
      hint: `stop ${users.length === 1 ? 'it' : 'them'} first (docker stop ${users.join(' ')}), or \`skiff stop${machineFlag(m.name)}\` instead`,
      exitCode: ExitCode.conflict,
    });
  }
}

export interface ContainerSummary {
  Names?: string[];
  Id?: string;
  Mounts?: Array<{ Type?: string; Source?: string }>;
}

/** Names of the running containers with a bind mount at or below one of `guestPaths`. */
export function containersUsing(containers: ContainerSummary[], guestPaths: string[]): string[] {
  const under = (src: string) => guestPaths.some((g) => src === g || src.startsWith(g.endsWith('/') ? g : `${g}/`));
  return containers
    .filter((c) => (c.Mounts ?? []).some((mt) => mt.Type === 'bind' && mt.Source !== undefined && under(mt.Source)))
    .map((c) => (c.Names?.[0] ?? c.Id?.slice(0, 12) ?? '?').replace(/^\//, ''));
}

/**
 * The guest command run before a save: flush, then unmount the shares (deepest
 * first). A share that will not unmount ends it with exit 3 and the path on
 * stderr; the caller mounts back what went. The page cache is not dropped: freed
 * pages keep their bytes and are saved all the same, and zeroing them on free
 * (init_on_free=1) cost 14 s of every cold boot under TCG (bench/suspend.results.md).
 */
export function quiesceCommand(guestPaths: string[]): string {
  const depth = (p: string) => p.split('/').filter(Boolean).length;
  const deepest = [...guestPaths].sort((a, b) => depth(b) - depth(a));
  return [
    MOUNTED_FN,
    'sync',
    ...deepest.map((p) => `! mounted ${shQuote(p)} || umount ${shQuote(p)} || { echo ${shQuote(p)} >&2; exit 3; }`),
  ].join('\n');
}

async function quiesceGuest(m: Machine, ssh: { host: string; port: number }): Promise<void> {
  const conn = await connectSsh(await machineSshTarget(m, ssh));
  let r;
  try {
    r = await execCollect(conn.client, quiesceCommand(m.config.shares.map((s) => s.guestPath)));
  } finally {
    conn.client.end();
  }
  if (r.code === 0) return;
  // The caller reconnects the agent, which mounts back what went.
  const what = r.stderr.toString().trim().split('\n').pop() ?? '';
  throw new SkiffError('suspend-failed', r.code === 3 ? `cannot suspend machine "${m.name}": the shared folder ${what} is busy in the guest` : `cannot suspend machine "${m.name}": flushing the guest failed (${what || `exit ${r.code}`})`, {
    hint: r.code === 3 ? 'a process in the guest uses it (`skiff ssh`, then `fuser -m PATH`): end it, or `skiff stop` instead' : 'see `skiff logs --console`',
    exitCode: ExitCode.conflict,
  });
}

/** After a failed save: the agent back, the shares mounted. */
async function reconnect(m: Machine, ui: Progress, ssh: { host: string; port: number }): Promise<void> {
  await connect(m, ui, ssh, { deadline: Date.now() + 60_000 });
}
