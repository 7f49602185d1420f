import path from 'node:path';
import { run } from '../lib/proc.js';
import { root } from '../lib/skiff.js';

/**
 * Runs bench/tunnel.mjs (the agent author's loopback-sshd benchmark) and keeps its
 * table and the peak RSS of its agents (tunnel.mjs samples each by its pid), the agent under load.
 */
export async function tunnelLoopbackBench({ mb, rounds, rt, log }) {
  const argv = [path.join('bench', 'tunnel.mjs'), '--mb', String(mb), '--rounds', String(rounds), '--rt', String(rt)];
  const r = await run(process.execPath, argv, { cwd: root, echoStderr: true });
  if (r.code !== 0) throw new Error(`bench/tunnel.mjs failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  const peaks = [...r.stdout.matchAll(/^agent peak RSS: .*: ([\d.]+) MB$/gm)].map((x) => Number(x[1]));
  // No sample is no figure (NaN prints as n/a), never 0 MB.
  const peak = peaks.length ? Math.max(...peaks) : NaN;
  log(`loopback tunnel done, agent peak RSS ${peak.toFixed(1)} MB`);
  const table = r.stdout.split('\n').filter((l) => l.startsWith('|'));
  const heading = r.stdout.split('\n').find((l) => l.startsWith('Tunnel benchmark')) ?? '';
  return { command: `node ${argv.join(' ')}`, heading, table, rounds: r.stderr.split('\n').filter((l) => l.startsWith('round ')), agentPeakMB: peak };
}
