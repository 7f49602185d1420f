#!/usr/bin/env node
/**
 * Shared folders against the VM's own disk (issue 23), on one booted machine:
 *
 *   node bench/shares.mjs [--copies 3] [--big-mib 1024] [--variants default,msize1m,loose,none] [--out bench/shares.results.md]
 *
 * Small files: a tar of `--copies` copies of skiff's own node_modules (installed
 * from the npm cache by `npm ci`, 3,633 files each) is unpacked into the directory
 * under test, then every file is read back (after dropping the guest's caches).
 * Sequential: `--big-mib` MiB written with dd (fsync at the end), then read back
 * after dropping caches. Each 9p variant remounts the same share with other
 * options through the guest's own mount script; timings come from the guest's
 * /proc/uptime (centiseconds), so SSH round trips are not counted.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BenchSkiff, root } from './lib/skiff.js';

const { values: a } = parseArgs({
  options: {
    copies: { type: 'string', default: '3' },
    'big-mib': { type: 'string', default: '1024' },
    variants: { type: 'string', default: 'default,msize1m,loose,none' },
    iso: { type: 'string', default: path.join(root, 'iso', 'out', 'skiff-amd64.iso') },
    out: { type: 'string', default: path.join(root, 'bench', 'shares.results.md') },
  },
});
const BASE = 'trans=virtio,version=9p2000.L';
const VARIANTS = {
  default: `${BASE},msize=262144,cache=mmap`,
  msize1m: `${BASE},msize=1048576,cache=mmap`,
  loose: `${BASE},msize=262144,cache=loose`,
  none: `${BASE},msize=262144,cache=none`,
};
const log = (m) => console.error(`[shares ${new Date().toISOString().slice(11, 19)}] ${m}`);

const sk = await BenchSkiff.create();
const share = path.join(sk.base, 'share dir');
mkdirSync(share);
const tarball = path.join(sk.base, 'tree.tar');
const stage = path.join(sk.base, 'stage');
for (let i = 0; i < Number(a.copies); i++) {
  mkdirSync(path.join(stage, `copy${i}`), { recursive: true });
  execFileSync('cp', ['-a', path.join(root, 'node_modules'), path.join(stage, `copy${i}`)]);
}
const files = Number(execFileSync('sh', ['-c', `find '${stage}' -type f | wc -l`]).toString().trim());
execFileSync('tar', ['-cf', tarball, '-C', stage, '.']);
rmSync(stage, { recursive: true, force: true });
log(`tree: ${files} files`);

const ssh = async (script, ...args) => {
  const r = await sk.cli(['ssh', '--', 'sh', '-c', script, 'sh', ...args]);
  if (r.code !== 0) throw new Error(`guest script failed (${r.code}): ${r.stderr.trim()}\n${script}`);
  return r.stdout;
};

// One guest run of every workload in DIR; prints "name seconds" lines.
const WORKLOAD = `
set -e
t() { read -r up _ </proc/uptime; echo "$up"; }
d=$1/bench; rm -rf "$d"; mkdir -p "$d"
sync; echo 3 >/proc/sys/vm/drop_caches
s=$(t); tar -xf /mnt/data/tree.tar -C "$d"; sync; e=$(t); echo "unpack $s $e"
echo 3 >/proc/sys/vm/drop_caches
s=$(t); find "$d" -type f -exec cat {} + >/dev/null; e=$(t); echo "read-tree $s $e"
s=$(t); dd if=/dev/zero of="$d/big" bs=1M count=$2 conv=fsync 2>/dev/null; e=$(t); echo "write-seq $s $e"
echo 3 >/proc/sys/vm/drop_caches
s=$(t); dd if="$d/big" of=/dev/null bs=1M 2>/dev/null; e=$(t); echo "read-seq $s $e"
rm -rf "$d"
`;
const parse = (out) =>
  Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([k, s, e]) => [k, Number(e) - Number(s)]),
  );

const results = {};
let cleaned;
const cleanup = () =>
  (cleaned ??= (async () => {
    await sk.cli(['stop', '--force']);
    await sk.cli(['delete', '--yes']);
    rmSync(sk.base, { recursive: true, force: true });
  })());
// A bench stopped from outside (timeout) still leaves no VM behind.
process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));
try {
  await sk.mustCli(['init', '--iso', a.iso, '--share', share, '--json']);
  log('booting');
  await sk.mustCli(['start', '--json']);
  // The tarball goes onto the VM's own disk once, through the share.
  execFileSync('cp', [tarball, path.join(share, 'tree.tar')]);
  await ssh('cp "$1/tree.tar" /mnt/data/tree.tar && rm "$1/tree.tar"', share);
  log('VM disk (/mnt/data)');
  results['VM disk'] = parse(await ssh(WORKLOAD, '/mnt/data', a['big-mib']));
  log(JSON.stringify(results['VM disk']));
  for (const v of a.variants.split(',')) {
    await ssh('umount "$1" && /usr/lib/skiff/shares 9p share0 rw "$1" "$2"', share, VARIANTS[v]);
    log(`9p ${v} (${VARIANTS[v]})`);
    results[`9p ${v}`] = parse(await ssh(WORKLOAD, share, a['big-mib']));
    log(JSON.stringify(results[`9p ${v}`]));
  }
} finally {
  await cleanup();
}

const disk = results['VM disk'];
const row = (name, r) => {
  const cell = (k) => `${r[k].toFixed(2)} s${r === disk ? '' : ` (${(r[k] / disk[k]).toFixed(1)}x)`}`;
  return `| ${name} | ${cell('unpack')} | ${cell('read-tree')} | ${cell('write-seq')} | ${cell('read-seq')} |`;
};
const md = [
  `# Shared folders against the VM's own disk`,
  '',
  `${new Date().toISOString()}, ${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, TCG.`,
  `Command: \`node bench/shares.mjs --copies ${a.copies} --big-mib ${a['big-mib']} --variants ${a.variants}\` (one run each).`,
  `Small files: ${files} files (${a.copies} copies of skiff's node_modules); sequential: ${a['big-mib']} MiB.`,
  '',
  '| where | unpack tree | read tree | write seq | read seq |',
  '| --- | --- | --- | --- | --- |',
  ...Object.entries(results).map(([k, r]) => row(k, r)),
  '',
  'Options: ' + Object.entries(VARIANTS).map(([k, v]) => `${k} = \`${v}\``).join('; ') + '.',
  '',
];
writeFileSync(a.out, md.join('\n'));
console.log(md.join('\n'));
