/**
 * The agent's supervisor: the detached process `startAgent` spawns. It runs the
 * agent as its child and starts it again when it dies abnormally (a signal such
 * as SIGKILL, a crash), so `docker` works again within seconds without user action.
 *
 * Why a POSIX shell loop and not a second Node process: the supervisor does
 * nothing but wait, and a Node process costs ~40 MB resident for that, while
 * dash/bash cost ~1-3 MB. The agent itself cannot be its own supervisor: SIGKILL
 * cannot be caught, so the watcher must be another process. The script is small
 * and uses only POSIX sh, `date`, `sleep`, `mv` and `rm` (Linux and macOS alike).
 *
 * Policy, in the script below:
 * - exit status 0 (SIGTERM/SIGINT/SIGHUP handled by the agent), 2 (bad usage or
 *   spec), 3 (fatal: e.g. the guest's host key changed) and 4 (the VM it serves is
 *   gone) end the supervisor with the same status: those would fail again the same
 *   way, or were asked for;
 * - anything else (killed by a signal, internal error, Node abort) restarts the
 *   agent after 0.2 s, doubling up to 2 s; the backoff resets after the agent
 *   has run for 10 s; more than SUPERVISOR_MAX_RESTARTS restarts within a minute
 *   and the supervisor gives up, so a persistent fault cannot become a hot loop;
 * - SIGTERM/SIGINT/SIGHUP to the supervisor pass SIGTERM on to the agent, wait
 *   for it to finish its own cleanup, and exit 0.
 * The supervisor writes its pid file first thing and removes it when it exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { processCommandLine } from '../util/process-alive.js';

/** argv[0] of the supervisor shell: how its command line is recognised. */
export const SUPERVISOR_NAME = 'skiff-agent-supervisor';
export const SUPERVISOR_MAX_RESTARTS = 5;

const SCRIPT = `
pidfile=$SKIFF_SUPERVISOR_PIDFILE
log=$SKIFF_SUPERVISOR_LOG
child=
napping=
stopping=
stop() {
  stopping=1
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
  [ -n "$napping" ] && kill -TERM "$napping" 2>/dev/null
}
trap stop TERM INT HUP
say() { printf '%s supervisor %s: %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$*" >>"$log" 2>/dev/null; }
printf '%s\\n' "$$" >"$pidfile.tmp" && mv -f "$pidfile.tmp" "$pidfile"
delay=0.2
window=$(date +%s)
restarts=0
status=0
while [ -z "$stopping" ]; do
  began=$(date +%s)
  "$@" </dev/null &
  child=$!
  # A trapped signal ends 'wait' early: keep waiting until the agent itself is gone.
  while :; do
    wait "$child"
    status=$?
    kill -0 "$child" 2>/dev/null || break
  done
  died=$child
  child=
  [ -n "$stopping" ] && break
  case $status in 0|2|3|4) break ;; esac
  now=$(date +%s)
  [ $((now - began)) -ge 10 ] && delay=0.2
  if [ $((now - window)) -ge 60 ]; then window=$now; restarts=0; fi
  restarts=$((restarts + 1))
  if [ "$restarts" -gt ${SUPERVISOR_MAX_RESTARTS} ]; then
    say "agent $died exited with status $status; $restarts failures within a minute, giving up"
    break
  fi
  say "agent $died exited with status $status, restarting in \${delay}s"
  sleep "$delay" &
  napping=$!
  wait "$napping"
  napping=
  case $delay in 0.2) delay=0.4 ;; 0.4) delay=0.8 ;; 0.8) delay=1.6 ;; *) delay=2 ;; esac
done
rm -f "$pidfile"
[ -n "$stopping" ] && exit 0
exit "$status"
`;

/** The supervisor's pid file sits beside the agent's: `agent.pid` -> `agent-supervisor.pid`. */
export function supervisorPidPath(agentPidPath: string): string {
  const base = path.basename(agentPidPath).replace(/\.pid$/, '');
  return path.join(path.dirname(agentPidPath), `${base}-supervisor.pid`);
}

export interface SupervisorOptions {
  /** The agent's command line: executable first. */
  command: string[];
  pidFile: string;
  /** Restart notices are appended here (the agent's own log). */
  logFile: string;
}

/** Spawns the supervisor detached; the caller unrefs it once it has spawned. */
export function spawnSupervisor(opts: SupervisorOptions): ChildProcess {
  return spawn('/bin/sh', ['-c', SCRIPT, SUPERVISOR_NAME, ...opts.command], {
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, SKIFF_SUPERVISOR_PIDFILE: opts.pidFile, SKIFF_SUPERVISOR_LOG: opts.logFile },
  });
}

/** Only a supervisor shell running an agent with this spec file is ours to signal. */
export async function isSupervisorProcess(pid: number, specPath: string): Promise<boolean> {
  const cmd = await processCommandLine(pid);
  return cmd !== undefined && cmd.includes(SUPERVISOR_NAME) && cmd.includes(specPath);
}
