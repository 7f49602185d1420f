#!/usr/bin/env node
/**
 * What host-side file watching costs the agent (issue 23 item 3), no VM needed:
 *
 *   npm run build && node bench/watch.mjs [--copies 3] [--src-files 1000] [--out bench/watch.results.md]
 *
 * A project folder like one a container bind-mounts: `--src-files` source files
 * in folders of 20, and a node_modules of `--copies` copies of skiff's own
 * (installed from the npm cache by `npm ci`, ~3,640 files each). Measured in
 * this process, one tree at a time, with the agent's own TreeWatcher:
 * folders and inotify watches taken (counted in /proc/self/fdinfo), time to arm
 * them, memory; with the default skips and with none; then this machine's
 * whole home directory (what `-v $HOME:...` would cost); then idle CPU with
 * everything armed, and the CPU to take in an edit of every source file (the
 * agent's FileWatch, less the SSH write, which rides the agent's existing
 * connection). Writes the results file whole, as this one run measured it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { TreeWatcher } = await import(path.join(root, 'dist/agent/watch/tree.js'));
const { FileWatch, defaultWatchLimit } = await import(path.join(root, 'dist/agent/watch/file-watch.js'));

const { values: a } = parseArgs({
  options: {
    copies: { type: 'string', default: '3' },
    'src-files': { type: 'string', default: '1000' },
    out: { type: 'string', default: path.join(root, 'bench', 'watch.results.md') },
  },
});
const log = (m) => console.error(`[watch ${new Date().toISOString().slice(11, 19)}] ${m}`);
const sh = (cmd) => execFileSync('sh', ['-c', cmd]).toString().trim();

/** inotify watches this process holds: one "inotify wd:" line per watch in its inotify fds' fdinfo. */
function inotifyWatches() {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    try {
      n += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n').filter((l) => l.startsWith('inotify wd:')).length;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}
const mib = (b) => (b / 1024 / 1024).toFixed(1);
const settle = async () => {
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 200));
};

const base = path.join(os.tmpdir(), `skiff-bench-watch-${process.pid}`);
const proj = path.join(base, 'home', 'proj');
const src = path.join(proj, 'src');
try {
  // The tree.
  for (let i = 0; i < Number(a['src-files']); i++) {
    const dir = path.join(src, `mod${Math.floor(i / 20)}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `file${i}.ts`), `export const v${i} = ${i};\n`);
  }
  for (let i = 0; i < Number(a.copies); i++) {
    mkdirSync(path.join(proj, 'node_modules', `copy${i}`), { recursive: true });
    execFileSync('cp', ['-a', path.join(root, 'node_modules') + '/.', path.join(proj, 'node_modules', `copy${i}`)]);
  }
  const files = Number(sh(`find '${proj}' -type f | wc -l`));
  const dirs = Number(sh(`find '${proj}' -type d | wc -l`));
  const nmFiles = Number(sh(`find '${proj}/node_modules' -type f | wc -l`));
  log(`tree: ${files} files in ${dirs} folders (node_modules: ${nmFiles} files)`);

  const rows = [];
  const budget = () => ({ limit: defaultWatchLimit(), used: 0 });
  async function arm(label, dir, opts = {}) {
    await settle();
    const rss0 = process.memoryUsage().rss;
    const w0 = inotifyWatches();
    const t = new TreeWatcher(dir, { budget: budget(), exclude: opts.exclude ?? [], onChange: () => undefined, log, ...opts });
    const t0 = process.hrtime.bigint();
    await t.start();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await settle();
    const row = { label, folders: t.directories, watches: inotifyWatches() - w0, ms, rssMiB: mib(process.memoryUsage().rss - rss0) };
    rows.push(row);
    log(JSON.stringify(row));
    return t;
  }

  // Cold-ish: the first walk reads the tree from the page cache like any later one (it was just written).
  const skipped = await arm('project, default skips (node_modules, .git, ...)', proj);
  skipped.close();
  const all = await arm('project, nothing skipped', proj, { skipNames: new Set() });
  all.close();
  const home = os.homedir();
  const homeDirs = Number(sh(`find '${home}' -xdev -type d 2>/dev/null | wc -l`));
  const homeTree = await arm(`this machine's home (${home}, ${homeDirs} folders), default skips`, home, { exclude: [path.join(home, '.skiff')] });
  homeTree.close();

  // Idle, and an edit of every source file, through the agent's FileWatch (no SSH link: replay stops after its lstat).
  const fw = new FileWatch({ shares: [{ hostPath: path.join(base, 'home'), guestPath: '/home' }], exclude: [] }, () => undefined, log, () => undefined);
  fw.containerStarted('bench', { Mounts: [{ Type: 'bind', Source: '/home/proj', Destination: '/w' }] });
  await fw.settled();
  await settle();
  const c0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, 10_000));
  const idle = process.cpuUsage(c0);
  const idleMs = (idle.user + idle.system) / 1000;
  const e0 = process.cpuUsage();
  // Edited by another process, so this one's CPU is the watcher's alone.
  execFileSync('sh', ['-c', `find '${src}' -type f -exec touch {} +`]);
  await new Promise((r) => setTimeout(r, 3_000));
  const burst = process.cpuUsage(e0);
  const burstMs = (burst.user + burst.system) / 1000;
  const st = fw.status().shares[0];
  fw.stop();
  log(`idle ${idleMs} ms CPU in 10 s; ${a['src-files']} edits ${burstMs} ms CPU`);

  const maxWatches = readFileSync('/proc/sys/fs/inotify/max_user_watches', 'utf8').trim();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    '# File watching: what the agent pays (issue 23 item 3)',
    '',
    `\`npm run build && node bench/watch.mjs --copies ${a.copies} --src-files ${a['src-files']}\` on ${new Date().toISOString()}, load ${os.loadavg()[0].toFixed(2)}`,
    `machine: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}; fs.inotify.max_user_watches ${maxWatches} (skiff takes at most half)`,
    '',
    `Project tree: ${files} files in ${dirs} folders; its node_modules ${nmFiles} files (${a.copies} copies of skiff's own).`,
    '',
    '| tree | folders watched | inotify watches | time to arm (ms) | RSS growth (MiB) |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${r.folders} | ${r.watches} | ${r.ms.toFixed(0)} | ${r.rssMiB} |`),
    '',
    `Armed on the project (${st.directories} folders, default skips): idle CPU ${idleMs.toFixed(1)} ms over 10 s; an edit of all ${a['src-files']} source files (one \`touch\`) took ${burstMs.toFixed(1)} ms of CPU to take in, batch and check (lstat) before the SSH write.`,
    '',
  ];
  writeFileSync(a.out, lines.join('\n'));
  console.log(lines.join('\n'));
} finally {
  rmSync(base, { recursive: true, force: true });
}
