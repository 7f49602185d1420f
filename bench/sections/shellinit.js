import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mustRun } from '../lib/proc.js';
import { skiffBin } from '../lib/skiff.js';
import { ratio, summarize } from '../lib/stats.js';

/** `skiff shellinit` vs `node -e 0`, by hyperfine (no shell in between, warm-up runs first). */
export async function shellinitBench({ sk, runs }) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'skh-'));
  try {
    const json = path.join(dir, 'h.json');
    const skiffCmd = `${process.execPath} ${skiffBin} shellinit --shell bash`;
    const nodeCmd = `${process.execPath} -e 0`;
    const argv = ['-N', '--warmup', '5', '--runs', String(runs), '--export-json', json, skiffCmd, nodeCmd];
    await mustRun('hyperfine', argv, { env: sk.env });
    const h = JSON.parse(await readFile(json, 'utf8'));
    const [s, n] = h.results.map((r) => summarize(r.times.map((t) => t * 1000)));
    return { skiff: s, node: n, ratio: ratio(s.median, n.median), command: `hyperfine ${argv.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ').replace(json, 'OUT.json')}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
