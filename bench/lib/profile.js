import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Top self-time entries of the V8 CPU profiles (.cpuprofile) in `dir`, summed
 * over all files: where a short-lived CLI run spends its time.
 */
export async function topSelfTime(dir, n = 12) {
  const by = new Map();
  let totalUs = 0;
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.cpuprofile'))) {
    const p = JSON.parse(await readFile(path.join(dir, f), 'utf8'));
    const dt = new Map();
    for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
    for (const node of p.nodes) {
      const us = dt.get(node.id) ?? 0;
      if (!us) continue;
      const cf = node.callFrame;
      const where = cf.url ? `${cf.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|dist|bin)\//, '$1/')}:${cf.lineNumber + 1}` : '';
      const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
      by.set(key, (by.get(key) ?? 0) + us);
      totalUs += us;
    }
  }
  const top = [...by.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  return { totalMs: totalUs / 1000, top: top.map(([k, us]) => ({ what: k, ms: us / 1000 })) };
}

/** Time per top-level module group (node_modules package, dist dir, node internals): what loading costs. */
export async function selfTimeByPackage(dir) {
  const by = new Map();
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.cpuprofile'))) {
    const p = JSON.parse(await readFile(path.join(dir, f), 'utf8'));
    const dt = new Map();
    for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
    for (const node of p.nodes) {
      const us = dt.get(node.id) ?? 0;
      if (!us) continue;
      const url = node.callFrame.url;
      let group = '(native / gc / idle)';
      const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
      if (nm) group = `node_modules/${nm[1]}`;
      else if (/\/dist\//.test(url)) group = `dist/${url.split('/dist/')[1].split('/')[0]}`;
      else if (url.startsWith('node:')) group = 'node internals';
      else if (url) group = url.replace(/^file:\/\//, '');
      by.set(group, (by.get(group) ?? 0) + us);
    }
  }
  return [...by.entries()].sort((a, b) => b[1] - a[1]).map(([group, us]) => ({ group, ms: us / 1000 }));
}
