import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { topSelfTime, selfTimeByPackage } from '../lib/profile.js';
import { summarize } from '../lib/stats.js';

/** `skiff start` on a machine that is already running: wall time of the whole CLI process. */
export async function warmBench({ sk, runs, profile }) {
  const ms = [];
  for (let i = 0; i < runs + 1; i++) {
    const r = await sk.mustCli(['start', '--json']);
    const out = JSON.parse(r.stdout);
    if (!out.alreadyRunning) throw new Error('warm start: the machine was not running');
    if (i > 0) ms.push(r.ms); // the first run warms the page cache
  }
  const result = { start: summarize(ms), samples: ms, command: 'node bin/skiff.js start --json' };
  if (profile) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'skp-'));
    try {
      await sk.cli(['start', '--json'], { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
      result.profile = { top: await topSelfTime(dir), byPackage: (await selfTimeByPackage(dir)).slice(0, 12) };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return result;
}
