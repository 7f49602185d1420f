#!/usr/bin/env node
/**
 * `npm run bench`: what users feel, side by side with the references, written to
 * bench/RESULTS.md. See bench/README.md for what each figure means.
 *
 *   node bench/run.js [--only size,shellinit,tunnel,warm,guest,cold] [--runs 5] [--out FILE]
 *   node bench/run.js --only cold-arm64 [--runs 3]   the aarch64 guest, written to RESULTS.arm64.md/.json
 *   node bench/run.js --only swarm [--runs 3]          opt-in (two guests), written to RESULTS.swarm.md/.json
 *
 * Every results file is what one run wrote: nothing is merged in from another run.
 */
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { coldArm64Bench, renderColdArm64 } from './lib/cold-arm64.js';
import { guestTunnel } from './lib/guest-tunnel.js';
import { alive, loadavg, started } from './lib/proc.js';
import { BenchSkiff, root } from './lib/skiff.js';
import { swarmBench } from './lib/swarm.js';
import { machineInfo } from './lib/system.js';
import { renderResults } from './report.js';
import { coldBench, isoSize } from './sections/cold.js';
import { shellinitBench } from './sections/shellinit.js';
import { tunnelLoopbackBench } from './sections/tunnel-loopback.js';
import { warmBench } from './sections/warm.js';

const SECTIONS = ['size', 'shellinit', 'tunnel', 'warm', 'guest', 'cold'];
// Not run by default (two guests, several minutes); `--only swarm` writes its own results file.
const OPT_IN = ['swarm'];
const { values: a } = parseArgs({
  options: {
    only: { type: 'string' },
    runs: { type: 'string', default: '5' },
    iso: { type: 'string', default: path.join(root, 'iso', 'out', 'skiff-amd64.iso') },
    out: { type: 'string' },
    'tunnel-mb': { type: 'string', default: '512' },
    'tunnel-rounds': { type: 'string', default: '3' },
    'guest-mb': { type: 'string', default: '32' },
    'guest-rounds': { type: 'string', default: '3' },
    'shellinit-runs': { type: 'string', default: '40' },
    'warm-runs': { type: 'string', default: '10' },
    'swarm-nodes': { type: 'string', default: '2' },
    // Before each part, wait (up to --quiet-wait seconds) for the 1-minute load to fall below
    // this: the work of the part before (boots, transfers) must not weigh on the next one.
    'quiet-load': { type: 'string', default: '1' },
    'quiet-wait': { type: 'string', default: '300' },
    'no-profile': { type: 'boolean', default: false },
    // Re-render RESULTS.md from a saved RESULTS.json (e.g. after editing ANALYSIS.md), measuring nothing.
    'render-only': { type: 'boolean', default: false },
  },
});
const want = new Set(a.only ? a.only.split(',') : SECTIONS);
// A part run apart writes its own file, so RESULTS.md stays one full run.
a.out ??= path.join(root, 'bench', want.has('cold-arm64') ? 'RESULTS.arm64.md' : [...want].every((s) => OPT_IN.includes(s)) ? 'RESULTS.swarm.md' : 'RESULTS.md');
if (a['render-only']) {
  const saved = JSON.parse(await readFile(a.out.replace(/\.md$/, '') + '.json', 'utf8'));
  await writeFile(a.out, want.has('cold-arm64') ? renderColdArm64(saved, saved.started ?? '') : renderResults(saved, { ...a, ...saved.args }));
  process.exit(0);
}
const runs = Number(a.runs);
const log = (m) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}`);
if (want.has('cold-arm64')) {
  if (want.size !== 1) throw new Error('--only cold-arm64 runs alone');
  const started = new Date().toISOString();
  const r = { started, ...(await coldArm64Bench({ runs, log })) };
  await writeFile(a.out.replace(/\.md$/, '') + '.json', JSON.stringify(r, null, 2) + '\n');
  await writeFile(a.out, renderColdArm64(r, started));
  log(`wrote ${a.out}`);
  process.exit(0);
}
for (const s of want) {
  if (!SECTIONS.includes(s) && !OPT_IN.includes(s)) throw new Error(`--only: unknown section ${s} (known: ${[...SECTIONS, ...OPT_IN].join(', ')}, or cold-arm64 alone)`);
}

const res = { started: new Date().toISOString(), sections: [...want], loads: [], errors: [], args: { runs: a.runs, iso: a.iso, 'guest-mb': a['guest-mb'], 'guest-rounds': a['guest-rounds'], 'quiet-load': a['quiet-load'], 'quiet-wait': a['quiet-wait'] } };
const note = (where, waitedS) => res.loads.push({ where, load: loadavg(), ...(waitedS !== undefined ? { waitedS } : {}) });

/** Waits until the 1-minute load is below --quiet-load, or --quiet-wait has passed; returns the seconds waited. */
async function quiet() {
  const t0 = Date.now();
  const limit = Number(a['quiet-wait']) * 1000;
  while (os.loadavg()[0] >= Number(a['quiet-load']) && Date.now() - t0 < limit) await new Promise((r) => setTimeout(r, 5_000));
  return Math.round((Date.now() - t0) / 1000);
}

/** A failed section is recorded and the rest still run: one broken part must not hide the others' numbers. */
async function section(name, fn) {
  if (!want.has(name)) return;
  note(name, await quiet());
  log(`${name}: start (load ${loadavg()})`);
  try {
    res[name] = await fn();
  } catch (e) {
    log(`${name}: FAILED ${e.stack ?? e}`);
    res.errors.push({ section: name, message: String(e.message ?? e) });
  }
  // Saved after every part, so an interrupted run keeps what it measured.
  await writeFile(jsonOut, JSON.stringify(res, null, 2) + '\n');
}
const jsonOut = a.out.replace(/\.md$/, '') + '.json';

let sk;
// Ctrl-C or a kill: stop the VMs and forwards this run started and delete its machine.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, async () => {
    log(`${sig}: cleaning up`);
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
    if (sk) await sk.destroy().catch(() => {});
    process.exit(130);
  });
}

res.machine = await machineInfo();
await section('size', () => isoSize(a.iso));
await section('swarm', () => swarmBench({ iso: a.iso, nodes: Number(a['swarm-nodes']), runs, log }));
await section('tunnel', () => tunnelLoopbackBench({ mb: Number(a['tunnel-mb']), rounds: Number(a['tunnel-rounds']), rt: 500, log }));

const needsMachine = ['shellinit', 'warm', 'guest', 'cold'].some((s) => want.has(s));
try {
  if (needsMachine) {
    sk = await BenchSkiff.create();
    res.envPrefix = sk.envPrefix();
    res.initCommand = `node bin/skiff.js init --iso ${a.iso} --disk 4G --no-shares`;
    await sk.mustCli(['init', '--iso', a.iso, '--disk', '4G', '--no-shares']);
    // The first boot formats the data disk: recorded, not counted among the cold starts.
    note('first boot', await quiet());
    const first = await sk.mustCli(['start', '--json', '--timings']);
    res.firstBoot = { ms: first.ms, timings: JSON.parse(first.stdout).timings, guest: await sk.consoleMarkers() };
    res.status = await sk.status();
    log(`first boot (formats the disk): ${(first.ms / 1000).toFixed(1)} s`);
    res.agentIdleMB = await sk.agentPid().then((pid) => import('./lib/proc.js').then((p) => p.rssMB(pid)));
  }
  await section('shellinit', () => shellinitBench({ sk, runs: Number(a['shellinit-runs']) }));
  await section('warm', () => warmBench({ sk, runs: Number(a['warm-runs']), profile: !a['no-profile'] }));
  await section('guest', () => guestTunnel({ sk, mb: Number(a['guest-mb']), rt: 10, rounds: Number(a['guest-rounds']), log }));
  await section('cold', () => coldBench({ sk, runs, iso: a.iso, log }));
} finally {
  if (sk) await sk.destroy();
}
res.finished = new Date().toISOString();
await writeFile(jsonOut, JSON.stringify(res, null, 2) + '\n');
await writeFile(a.out, renderResults(res, a));
log(`wrote ${a.out}${res.errors.length ? ` (${res.errors.length} section(s) failed)` : ''}`);
process.exitCode = res.errors.length ? 1 : 0;
