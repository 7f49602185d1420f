import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { run, rssMB } from '../lib/proc.js';
import { root } from '../lib/skiff.js';

/** Agent processes bench/tunnel.mjs started (its compiled agent lives in its own cache dir). */
function tunnelAgentPids() {
  // tunnel.mjs compiles into node_modules/.cache/skiff-bench-<its pid>/ (two runs must not share it).
  const marker = /node_modules\/\.cache\/skiff-bench-\d+\/src\/agent\/main\.js/;
  const pids = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (marker.test(readFileSync(`/proc/${d}/cmdline`, 'utf8'))) pids.push(Number(d));
    } catch {}
  }
  return pids;
}

/**
 * Runs bench/tunnel.mjs (the agent author's loopback-sshd benchmark) and keeps its
 * table; meanwhile samples the RSS of the agents it runs, the agent under load.
 */
export async function tunnelLoopbackBench({ mb, rounds, rt, log }) {
  const argv = [path.join('bench', 'tunnel.mjs'), '--mb', String(mb), '--rounds', String(rounds), '--rt', String(rt)];
  let peak = 0;
  const timer = setInterval(() => {
    for (const pid of tunnelAgentPids()) peak = Math.max(peak, rssMB(pid) || 0);
  }, 250);
  let r;
  try {
    r = await run(process.execPath, argv, { cwd: root, echoStderr: true });
  } finally {
    clearInterval(timer);
  }
  if (r.code !== 0) throw new Error(`bench/tunnel.mjs failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  log(`loopback tunnel done, agent peak RSS ${peak.toFixed(1)} MB`);
  const table = r.stdout.split('\n').filter((l) => l.startsWith('|'));
  const heading = r.stdout.split('\n').find((l) => l.startsWith('Tunnel benchmark')) ?? '';
  return { command: `node ${argv.join(' ')}`, heading, table, rounds: r.stderr.split('\n').filter((l) => l.startsWith('round ')), agentPeakMB: peak };
}
