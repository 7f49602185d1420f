import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { plainBoot } from '../lib/plain-qemu.js';
import { loadavg } from '../lib/proc.js';
import { summarize } from '../lib/stats.js';

/**
 * Cold start, skiff vs the plain-QEMU reference, in pairs whose order alternates
 * (skiff then plain, plain then skiff, ...) so a burst of load from other work on the
 * machine, or a boot's after-effects, hit both alike.
 * Each skiff run is `skiff stop` (not timed) then `skiff start` (timed, the whole
 * CLI process); each plain run boots a copy of the same stopped data disk.
 */
export async function coldBench({ sk, runs, iso, log }) {
  const st = await sk.status();
  const cfg = { accel: st.accelerator, cpus: st.cpus, memoryMiB: st.memoryMiB };
  // The machine's own copy of the image (init copies it into the cache), so a rebuild of
  // iso/out during the run cannot hand the reference a different image.
  const machineIso = /^\s+path:\s*(.+)$/m.exec(await readFile(path.join(sk.machineDir, 'config.yaml'), 'utf8'))?.[1]?.trim() ?? iso;
  const skiff = [];
  const plain = [];
  let commands;
  const skiffRun = async (i) => {
    await sk.mustCli(['stop']);
    const load = loadavg();
    const r = await sk.mustCli(['start', '--json', '--timings']);
    const out = JSON.parse(r.stdout);
    log(`cold ${i + 1}/${runs} skiff: ${(r.ms / 1000).toFixed(1)} s (load ${load})`);
    await sk.mustCli(['stop']);
    // Read after the stop: the guest may print SKIFF-READY just after the host's first
    // /_ping got its answer; the log is only rotated by the next start.
    const guest = await sk.consoleMarkers();
    skiff.push({ ms: r.ms, load, timings: out.timings, guestReady: guest.ready, guestStages: guest.stages });
  };
  const plainRun = async (i) => {
    const pload = loadavg();
    const p = await plainBoot({ machineDir: sk.machineDir, iso: path.resolve(machineIso), ...cfg });
    commands = p.commands;
    plain.push({ ms: p.ms, load: pload, guestReady: p.guestReady });
    log(`cold ${i + 1}/${runs} plain QEMU: ${(p.ms / 1000).toFixed(1)} s (load ${pload})`);
  };
  // Pairs in ABBA order (skiff first, then the reference first, ...): neither side always
  // boots right after the other's shutdown.
  for (let i = 0; i < runs; i++) {
    const first = i % 2 ? 'plain' : 'skiff';
    log(`cold pair ${i + 1}/${runs}: load ${loadavg()}, ${first} first`);
    if (first === 'skiff') {
      await skiffRun(i);
      await plainRun(i);
    } else {
      // The machine must be stopped before the reference boots its data disk.
      await sk.mustCli(['stop']);
      await plainRun(i);
      await skiffRun(i);
    }
    skiff.at(-1).first = first;
    plain.at(-1).first = first;
  }
  // Leave the machine running for whatever comes next.
  await sk.mustCli(['start', '--json']);
  return {
    cfg,
    skiff: { wall: summarize(skiff.map((x) => x.ms)), guestReady: summarize(skiff.map((x) => x.guestReady * 1000)), runs: skiff },
    plain: { wall: summarize(plain.map((x) => x.ms)), guestReady: summarize(plain.map((x) => x.guestReady * 1000)), runs: plain },
    plainCommands: commands,
  };
}

/**
 * A run whose stage list repeats a stage (or has the guest's "shutdown" marker) got
 * the previous boot's console markers replayed: `skiff start` watched the console log
 * before the driver rotated it. Such runs are left out of the stage medians.
 */
export function replayedMarkers(run) {
  const names = run.timings.map((t) => t.stage);
  return names.includes('shutdown') || new Set(names).size !== names.length;
}

/** Median of each stage's ms over the runs, in the order the stages came. */
export function stageMedians(runs) {
  const order = [];
  const by = new Map();
  for (const r of runs.filter((x) => !replayedMarkers(x))) {
    for (const t of r.timings) {
      if (!by.has(t.stage)) (by.set(t.stage, []), order.push(t.stage));
      by.get(t.stage).push(t.ms);
    }
  }
  return order.map((stage) => ({ stage, ...summarize(by.get(stage)) }));
}

export async function isoSize(iso) {
  const { size } = await import('node:fs/promises').then((fs) => fs.stat(iso));
  const sums = await readFile(path.join(path.dirname(iso), 'SHA256SUMS'), 'utf8').catch(() => '');
  return { bytes: size, sha256: /^([0-9a-f]{64})/m.exec(sums)?.[1] };
}
