#!/usr/bin/env node
/**
 * `npm run bench`: what users feel, side by side with the references, written to
 * bench/RESULTS.md. See bench/README.md for what each figure means.
 *
 *   node bench/run.js [--only size,shellinit,tunnel,warm,guest,cold] [--runs 3] [--out FILE]
 *   node bench/run.js --only cold-arm64 [--runs 3]   the aarch64 guest; replaces only its own section of RESULTS.md
 *   node bench/run.js --only swarm [--runs 3]          opt-in (two guests); merged into the saved results
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { coldArm64Bench, existingColdArm64, renderColdArm64, spliceColdArm64 } from './lib/cold-arm64.js';
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
// Not run by default (two guests, several minutes); `--only swarm` adds its figures to the saved results.
const OPT_IN = ['swarm'];
const { values: a } = parseArgs({
  options: {
    only: { type: 'string' },
    runs: { type: 'string', default: '3' },
    iso: { type: 'string', default: path.join(root, 'iso', 'out', 'skiff-amd64.iso') },
    out: { type: 'string', default: path.join(root, 'bench', 'RESULTS.md') },
    'tunnel-mb': { type: 'string', default: '512' },
    'tunnel-rounds': { type: 'string', default: '3' },
    'guest-mb': { type: 'string', default: '32' },
    'shellinit-runs': { type: 'string', default: '40' },
    'warm-runs': { type: 'string', default: '10' },
    'swarm-nodes': { type: 'string', default: '2' },
    'no-profile': { type: 'boolean', default: false },
    // Re-render RESULTS.md from a saved RESULTS.json (e.g. after editing ANALYSIS.md), measuring nothing.
    'render-only': { type: 'boolean', default: false },
  },
});
if (a['render-only']) {
  const saved = JSON.parse(await readFile(a.out.replace(/\.md$/, '') + '.json', 'utf8'));
  const keep = existingColdArm64(await readFile(a.out, 'utf8').catch(() => ''));
  const rendered = renderResults(saved, { ...a, ...saved.args });
  await writeFile(a.out, keep ? spliceColdArm64(rendered, keep) : rendered);
  process.exit(0);
}
const want = new Set(a.only ? a.only.split(',') : SECTIONS);
const runs = Number(a.runs);
const log = (m) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}`);
// The aarch64 guest is measured on its own and only its section of RESULTS.md changes.
if (want.has('cold-arm64')) {
  if (want.size !== 1) throw new Error('--only cold-arm64 runs alone');
  const r = await coldArm64Bench({ runs, log });
  await writeFile(a.out.replace(/\.md$/, '') + '.arm64.json', JSON.stringify(r, null, 2) + '\n');
  const old = await readFile(a.out, 'utf8').catch(() => '');
  await writeFile(a.out, spliceColdArm64(old, renderColdArm64(r, new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC')));
  log(`wrote the cold-arm64 section of ${a.out}`);
  process.exit(0);
}
for (const s of want) {
  if (!SECTIONS.includes(s) && !OPT_IN.includes(s)) throw new Error(`--only: unknown section ${s} (known: ${[...SECTIONS, ...OPT_IN].join(', ')}, or cold-arm64 alone)`);
}

const res = { started: new Date().toISOString(), sections: [...want], loads: [], errors: [], args: { runs: a.runs, iso: a.iso, 'guest-mb': a['guest-mb'] } };
const note = (where) => res.loads.push({ where, load: loadavg() });
/** A failed section is recorded and the rest still run: one broken part must not hide the others' numbers. */
async function section(name, fn) {
  if (!want.has(name)) return;
  note(name);
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
if (want.has('swarm')) {
  const t0 = new Date().toISOString();
  // Read before the part runs: section() saves its own results over the file.
  const saved = await readFile(jsonOut, 'utf8').then(JSON.parse, () => undefined);
  await section('swarm', () => swarmBench({ iso: a.iso, nodes: Number(a['swarm-nodes']), runs, log }));
  if ([...want].every((s) => OPT_IN.includes(s))) {
    // Only opt-in parts ran: add them to the saved full run instead of replacing it.
    if (saved) {
      // A failed measure leaves the saved results as they were.
      const merged = res.swarm ? { ...saved, swarm: res.swarm, swarmRun: { started: t0, finished: new Date().toISOString(), load: res.loads.at(-1)?.load } } : saved;
      await writeFile(jsonOut, JSON.stringify(merged, null, 2) + '\n');
      // The aarch64 section is measured apart and kept as it is.
      const keep = existingColdArm64(await readFile(a.out, 'utf8').catch(() => ''));
      const rendered = renderResults(merged, { ...a, ...merged.args });
      await writeFile(a.out, keep ? spliceColdArm64(rendered, keep) : rendered);
      log(res.swarm ? `added the swarm figures to ${a.out}` : `swarm FAILED; ${a.out} unchanged`);
      process.exit(res.swarm ? 0 : 1);
    }
  }
}
await section('tunnel', () => tunnelLoopbackBench({ mb: Number(a['tunnel-mb']), rounds: Number(a['tunnel-rounds']), rt: 500, log }));

const needsMachine = ['shellinit', 'warm', 'guest', 'cold'].some((s) => want.has(s));
try {
  if (needsMachine) {
    sk = await BenchSkiff.create();
    res.envPrefix = sk.envPrefix();
    res.initCommand = `node bin/skiff.js init --iso ${a.iso} --disk 4G --no-shares`;
    await sk.mustCli(['init', '--iso', a.iso, '--disk', '4G', '--no-shares']);
    // The first boot formats the data disk: recorded, not counted among the cold starts.
    note('first boot');
    const first = await sk.mustCli(['start', '--json', '--timings']);
    res.firstBoot = { ms: first.ms, timings: JSON.parse(first.stdout).timings, guest: await sk.consoleMarkers() };
    res.status = await sk.status();
    log(`first boot (formats the disk): ${(first.ms / 1000).toFixed(1)} s`);
    res.agentIdleMB = await sk.agentPid().then((pid) => import('./lib/proc.js').then((p) => p.rssMB(pid)));
  }
  await section('shellinit', () => shellinitBench({ sk, runs: Number(a['shellinit-runs']) }));
  await section('warm', () => warmBench({ sk, runs: Number(a['warm-runs']), profile: !a['no-profile'] }));
  await section('guest', () => guestTunnel({ sk, mb: Number(a['guest-mb']), rt: 10, rounds: 1, log }));
  await section('cold', () => coldBench({ sk, runs, iso: a.iso, log }));
} finally {
  if (sk) await sk.destroy();
}
res.finished = new Date().toISOString();
await writeFile(jsonOut, JSON.stringify(res, null, 2) + '\n');
// A full run re-renders RESULTS.md: the aarch64 section, measured apart, is kept.
const arm64Section = existingColdArm64(await readFile(a.out, 'utf8').catch(() => ''));
const rendered = renderResults(res, a);
await writeFile(a.out, arm64Section ? spliceColdArm64(rendered, arm64Section) : rendered);
log(`wrote ${a.out}${res.errors.length ? ` (${res.errors.length} section(s) failed)` : ''}`);
process.exitCode = res.errors.length ? 1 : 0;
