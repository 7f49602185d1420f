/**
 * The agent's watch on the VM it serves (issue 26). A VM that ends without
 * `skiff stop` (killed, crashed, taken by the OOM killer, powered off from
 * inside) leaves nothing to reconnect to: the watch notices within a few
 * seconds, writes why (vm-end.json), removes what the dead run left, and hands
 * the agent its reason to exit. A guest that reboots (panic=5) keeps its QEMU
 * process and VirtualBox state, so it is never taken for a death.
 */
import { open, rm } from 'node:fs/promises';
import type { VmWatch } from '../drivers/driver.js';
import { errorMessage } from '../errors.js';
import { readPidFile } from '../util/pid-file.js';
import { processStartTime } from '../util/process-start.js';
import type { Log } from './log.js';
import { writeVmEnd, type VmEnd } from './vm-end.js';

export interface VmWatchOptions {
  log: Log;
  /** Where the end is recorded for `status`; nothing is written without it. */
  vmEndPath?: string;
  consoleLog?: string;
  /** True while the SSH link is up: a VM that answers needs no costly check (VBoxManage). */
  linkUp: () => boolean;
  /** Called once, after the end is recorded. */
  onGone: (end: VmEnd) => void;
  /** How often the QEMU process is looked at (a /proc read); VirtualBox is asked every 2 s while the link is down. */
  intervalMs?: number;
}

const CONSOLE_TAIL_LINES = 10;
const VBOX_DOWN_MS = 2_000;
const VBOX_UP_MS = 30_000;

/** Starts watching; stop() ends it (the agent's own shutdown). */
export function watchVm(vm: VmWatch, opts: VmWatchOptions): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let lastVBoxCheck = 0;
  const tick = async (): Promise<void> => {
    let cause: Pick<VmEnd, 'kind' | 'cause'> | undefined;
    try {
      if (vm.kind === 'process') cause = await processEnded(vm);
      else {
        const due = opts.linkUp() ? VBOX_UP_MS : VBOX_DOWN_MS;
        if (Date.now() - lastVBoxCheck >= due) {
          lastVBoxCheck = Date.now();
          cause = await vboxEnded(vm);
        }
      }
    } catch (e) {
      opts.log(`VM watch: ${errorMessage(e)}`);
    }
    if (stopped) return;
    if (cause === undefined) {
      timer = setTimeout(() => void tick(), opts.intervalMs ?? 1_000);
      return;
    }
    stopped = true;
    const consoleTail = opts.consoleLog ? await tailLines(opts.consoleLog, CONSOLE_TAIL_LINES) : [];
    const shutDown = cause.kind === 'powered-off' && consoleTail.some((l) => l.includes('SKIFF-POWEROFF'));
    const end: VmEnd = {
      kind: cause.kind,
      at: new Date().toISOString(),
      cause: shutDown ? `${cause.cause}: the guest shut itself down` : cause.cause,
      consoleTail,
    };
    if (vm.kind === 'process') await removeLeftovers(vm, opts.log);
    if (opts.vmEndPath) await writeVmEnd(opts.vmEndPath, end).catch((e: unknown) => opts.log(`cannot record the VM's end: ${errorMessage(e)}`));
    opts.onGone(end);
  };
  timer = setTimeout(() => void tick(), 0);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

type Ended = Pick<VmEnd, 'kind' | 'cause'>;

async function processEnded(vm: Extract<VmWatch, { kind: 'process' }>): Promise<Ended | undefined> {
  if ((await processStartTime(vm.pid)) === vm.startTime) return undefined;
  const what = `${vm.label} (pid ${vm.pid})`;
  if (await oomKilled(vm.pid)) return { kind: 'crashed', cause: `${what} was killed by the host kernel's OOM killer: the host ran out of memory` };
  // QEMU removes its pid file when it exits by itself (guest power-off, SIGTERM); only
  // an uncatchable signal or a crash leaves it behind. Its exit status went to init.
  if ((await readPidFile(vm.pidFile)) === vm.pid) return { kind: 'crashed', cause: `${what} was killed (SIGKILL) or crashed` };
  return { kind: 'powered-off', cause: `${what} exited without \`skiff stop\`` };
}

/** The kernel names the process it killed for memory; the log is often closed to non-root users. */
async function oomKilled(pid: number): Promise<boolean> {
  try {
    const { execa } = await import('execa');
    const r = await execa('dmesg', [], { reject: false, timeout: 2_000, stdin: 'ignore' });
    return r.exitCode === 0 && new RegExp(`Killed process ${pid}\\b`).test(r.stdout);
  } catch {
    return false;
  }
}

/** A run's files are removed only while its pid file still names it: a new `start` may have made new ones. */
async function removeLeftovers(vm: Extract<VmWatch, { kind: 'process' }>, log: Log): Promise<void> {
  const pid = await readPidFile(vm.pidFile);
  if (pid !== undefined && pid !== vm.pid) return;
  for (const f of vm.leftovers) {
    await rm(f, { force: true }).catch((e: unknown) => log(`cannot remove ${f}: ${errorMessage(e)}`));
  }
}

async function vboxEnded(vm: Extract<VmWatch, { kind: 'virtualbox' }>): Promise<Ended | undefined> {
  const { execa } = await import('execa');
  const r = await execa(vm.vboxManage, ['showvminfo', vm.uuid, '--machinereadable'], { reject: false, timeout: 30_000, stdin: 'ignore', env: { LC_ALL: 'C' } });
  const what = `the VirtualBox VM ${vm.vmName}`;
  if (r.exitCode !== 0) {
    if (/VBOX_E_OBJECT_NOT_FOUND|Could not find a registered machine/.test(String(r.stderr))) return { kind: 'crashed', cause: `${what} is no longer registered in VirtualBox` };
    return undefined; // VBoxManage itself failing says nothing about the VM.
  }
  const state = /^VMState="([^"]*)"/m.exec(String(r.stdout))?.[1];
  switch (state) {
    case 'aborted':
    case 'aborted-saved':
      return { kind: 'crashed', cause: `${what} aborted (its process crashed or was killed; VMState ${state})` };
    case 'poweroff':
      return { kind: 'powered-off', cause: `${what} was powered off without \`skiff stop\`` };
    case 'saved':
      return { kind: 'powered-off', cause: `${what} was saved (suspended) outside skiff` };
    default:
      return undefined;
  }
}

/** The last non-empty lines of a console log, without terminal escapes. */
export async function tailLines(file: string, count: number, maxBytes = 16 * 1024): Promise<string[]> {
  let text: string;
  try {
    const fh = await open(file, 'r');
    try {
      const { size } = await fh.stat();
      const len = Math.min(size, maxBytes);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      text = buf.toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return [];
  }
  return text
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .split(/\r?\n/)
    .map((l) => l.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '').trimEnd())
    .filter((l) => l.trim() !== '')
    .slice(-count);
}
