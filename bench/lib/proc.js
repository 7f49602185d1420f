import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

/** Pids of long-lived processes this run started (VMs, ssh forwards), for cleanup after a signal. */
export const started = new Set();

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs a command to completion; never rejects on a non-zero exit (callers check `code`). */
export function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (opts.echoStderr) process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}

/** Runs a command and throws with its stderr if it fails. */
export async function mustRun(cmd, args, opts = {}) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r;
}

export function loadavg() {
  return os.loadavg().map((x) => x.toFixed(2)).join(' ');
}

/** Resident set size of a process in MB (VmRSS), or NaN if it is gone. */
export function rssMB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Samples a process's RSS every `ms` until stopped; returns the peak. */
export function sampleRss(pid, ms = 100) {
  let peak = rssMB(pid);
  const timer = setInterval(() => {
    const v = rssMB(pid);
    if (v > peak || !Number.isFinite(peak)) peak = v;
  }, ms);
  return { stop: () => (clearInterval(timer), peak) };
}

let clockTicks;
/** User plus system CPU seconds a process (or `PID/task/TID`, a thread) has used, from /proc; NaN if it is gone. */
export function cpuSeconds(pid) {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1).split(' ');
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
    return (Number(f[11]) + Number(f[12])) / clockTicks;
  } catch {
    return NaN;
  }
}

/** CPU seconds of each thread of a process, by thread id ({} if it is gone). */
export function threadCpuSeconds(pid) {
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return {};
  }
  return Object.fromEntries(tids.map((tid) => [tid, cpuSeconds(`${pid}/task/${tid}`)]).filter(([, s]) => Number.isFinite(s)));
}

/** Pids whose command name starts with `comm` and whose command line contains `mark`. */
export function pidsOf(comm, mark) {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/comm`, 'utf8').startsWith(comm) && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(mark);
      } catch {
        return false;
      }
    })
    .map(Number);
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills one process we started and waits for it to go. */
export async function killAndWait(pid, timeoutMs = 10_000) {
  if (pid === undefined || !alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const end = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < end) await sleep(50);
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
}

/** Shell-quotes argv for printing the exact command into RESULTS.md. */
export function shellJoin(argv) {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}
