#!/usr/bin/env node
// issue 20: suspend and resume against a cold start, in one run on one machine.
// Boots one throwaway machine (run under the boot lock):
//   npm run build && flock /tmp/skiff-boot.lock node bench/suspend.mjs [--rounds 5] [--share] [--variants] [--iso PATH] [--out FILE]
// Each round: `skiff start` from stopped (cold), a running container, `skiff
// suspend`, `skiff start` (resume); every time is the CLI's wall clock until it
// exits, and `docker version` must answer right after each start; QEMU's
// resident memory is read once docker answers, after the cold start and after
// the resume. The load average is printed before each round. --share: the machine shares one host
// folder (9p, or virtiofs with SKIFF_SHARE_FS=virtiofs in the environment),
// which a suspend unmounts (virtiofs: and unplugs) and a resume mounts again.
// --variants then compares ways to save the same guest, on QMP directly: the
// compressor and its level; for each, the save time, the size, and the time until
// a new QEMU (-incoming, warm page cache) has loaded it.
// --zeroing N: N pairs of cold starts (ABBA) with the guest kernel's
// init_on_free=1 (freed pages zeroed, so a dropped page cache saves as zero
// pages) against without, and the state each saves after dropping the cache.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { QmpClient, qmpOnce } from '../dist/drivers/qemu/qmp.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const rounds = Number(arg('rounds', '5'));
const variants = process.argv.includes('--variants');
const withShare = process.argv.includes('--share');
let shareFs = 'no shares';
const zeroingPairs = Number(arg('zeroing', '0'));
const iso = path.resolve(arg('iso', path.join(here, '../iso/out/skiff-amd64.iso')));
const out = arg('out', path.join(here, 'suspend.results.md'));
const root = mkdtempSync(path.join(os.tmpdir(), 'skb-susp-'));
const env = {
  ...process.env,
  SKIFF_HOME: path.join(root, 'home'),
  SKIFF_RUNTIME_DIR: path.join('/tmp', `skb-susp-${process.pid}`),
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const load = () => os.loadavg()[0].toFixed(2);

function run(bin, args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env, timeout: 400_000, ...opts }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(bin)} ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}
const skiff = (args) => run(process.execPath, [path.join(here, '../bin/skiff.js'), ...args]);

async function timed(fn) {
  const t = performance.now();
  const v = await fn();
  return { ms: Math.round(performance.now() - t), v };
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor((s.length - 1) / 2)], min: s[0], max: s[s.length - 1] };
}
const fmt = (xs, unit = 's', div = 1000) => {
  const { median, min, max } = stats(xs);
  const f = (x) => (x / div).toFixed(div === 1 ? 0 : 2);
  return `${f(median)} ${unit} (${f(min)}–${f(max)})`;
};

const results = { cold: [], suspend: [], resume: [], size: [], rssCold: [], rssResumed: [] };

/**
 * QEMU's resident memory in MB (anonymous plus shared: a virtiofs machine's
 * guest RAM is a shared memfd), read right after docker answers.
 */
function qemuRssMB() {
  const pidFile = execFileSync('find', [env.SKIFF_RUNTIME_DIR, '-name', 'qemu.pid']).toString().trim().split('\n')[0];
  const status = readFileSync(`/proc/${Number(readFileSync(pidFile, 'utf8'))}/status`, 'utf8');
  const kB = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return (kB('RssAnon') + kB('RssShmem')) / 1024;
}
const variantRows = [];
const zeroRows = [];

/**
 * Cold starts with and without init_on_free=1, in ABBA order. The option goes
 * into the machine's extracted boot command line, which the driver passes on as
 * it is (it adds only panic= and skiff.binfmt=). After each start the page cache
 * is dropped and the machine suspended, for the state's size.
 */
async function compareZeroing() {
  const cmdlineFile = path.join(env.SKIFF_HOME, 'machines', 'default', 'driver', 'boot', 'cmdline');
  const base = readFileSync(cmdlineFile, 'utf8').trim();
  const rows = [];
  const order = [];
  for (let i = 0; i < zeroingPairs; i++) order.push(...(i % 2 === 0 ? [true, false] : [false, true]));
  for (const zero of order) {
    writeFileSync(cmdlineFile, zero ? `${base} init_on_free=1\n` : `${base}\n`);
    console.log(`cold start, init_on_free=${zero ? 1 : 0}: load ${load()}`);
    const cold = await timed(() => skiff(['start', '--json']));
    await skiff(['ssh', '--', 'sync; echo 1 > /proc/sys/vm/drop_caches']);
    const size = JSON.parse(await skiff(['suspend', '--json'])).sizeBytes;
    await skiff(['stop', '--force']);
    const row = { zero, coldMs: cold.ms, sizeMB: +(size / 1e6).toFixed(1) };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  writeFileSync(cmdlineFile, `${base}\n`);
  return rows;
}
let dockerHost = '';
try {
  const shareDir = path.join(root, 'share');
  if (withShare) mkdirSync(shareDir);
  await skiff(['init', '--iso', iso, ...(withShare ? ['--share', shareDir] : ['--no-shares']), '--cpus', '2', '--memory', '2G', '--disk', '4G']);
  for (let i = 1; i <= rounds; i++) {
    console.log(`round ${i}/${rounds}: load ${load()}`);
    const cold = await timed(() => skiff(['start', '--json']));
    const socket = JSON.parse(cold.v).socket;
    dockerHost = `unix://${socket}`;
    await run('docker', ['-H', dockerHost, 'version', '--format', '{{.Server.Version}}']);
    const rssCold = qemuRssMB();
    if (i === 1 && withShare) shareFs = `one share (${JSON.parse(await skiff(['status', '--json'])).shares[0].fs})`;
    if (i === 1) await run('docker', ['-H', dockerHost, 'import', path.join(here, '../iso/out/busybox-rootfs-amd64.tar'), 'skb/bb:1']);
    await run('docker', ['-H', dockerHost, 'run', '-d', '--rm', '--name', `c${i}`, 'skb/bb:1', 'busybox', 'sleep', '3600']);
    const sus = await timed(() => skiff(['suspend', '--json']));
    const size = JSON.parse(sus.v).sizeBytes;
    const res = await timed(async () => {
      const o = JSON.parse(await skiff(['start', '--json']));
      if (!o.resumed) throw new Error(`round ${i}: start did not resume (${o.savedStateDiscarded ?? 'no reason'})`);
      await run('docker', ['-H', dockerHost, 'version', '--format', '{{.Server.Version}}']);
    });
    const rssResumed = qemuRssMB();
    const row = { round: i, coldMs: cold.ms, suspendMs: sus.ms, resumeMs: res.ms, sizeMB: +(size / 1e6).toFixed(1), rssColdMB: Math.round(rssCold), rssResumedMB: Math.round(rssResumed) };
    console.log(JSON.stringify(row));
    results.cold.push(cold.ms);
    results.suspend.push(sus.ms);
    results.resume.push(res.ms);
    results.size.push(size);
    results.rssCold.push(rssCold);
    results.rssResumed.push(rssResumed);
    await skiff(['stop']);
  }
  if (zeroingPairs > 0) zeroRows.push(...(await compareZeroing()));
  if (variants) {
    await skiff(['start']);
    variantRows.push(...(await compareVariants()));
  }
} finally {
  await skiff(['stop', '--force']).catch(() => {});
  await skiff(['delete', '--yes']).catch(() => {});
  rmSync(root, { recursive: true, force: true });
  rmSync(env.SKIFF_RUNTIME_DIR, { recursive: true, force: true });
}

/**
 * Saves the running machine by QMP with each variant, loads it into a new QEMU
 * started with the same command line plus -S -incoming, and lets it run on.
 * The agent sees its QEMU go and exits; `skiff start` at the end reconnects.
 */
async function compareVariants() {
  const runDir = env.SKIFF_RUNTIME_DIR;
  const dirs = execFileSync('find', [runDir, '-name', 'qmp.sock']).toString().trim().split('\n');
  const qmp = dirs[0];
  const pidFile = path.join(path.dirname(qmp), 'qemu.pid');
  // The agent would see each QEMU go and clean up after it, racing the next one: it goes first.
  for (const f of ['agent-supervisor.pid', 'agent.pid']) {
    try {
      process.kill(Number(readFileSync(path.join(path.dirname(qmp), f), 'utf8')), 'SIGTERM');
    } catch {
      // not running
    }
  }
  await sleep(2_000);
  const file = path.join(root, 'state');
  const list = [
    { name: 'zstd -1 -T2 (skiff)', save: `zstd -q -1 -T2 -f -o ${file}`, load: `zstd -dcq -T2 ${file}` },
    { name: 'zstd -1, single-thread load', save: `zstd -q -1 -T2 -f -o ${file}`, load: `zstd -dcq ${file}` },
    { name: 'zstd -3 -T2', save: `zstd -q -3 -T2 -f -o ${file}`, load: `zstd -dcq -T2 ${file}` },
    { name: 'lz4 -1', save: `lz4 -q -1 -f - ${file}`, load: `lz4 -dcq ${file}` },
    { name: 'uncompressed', save: `cat > ${file}`, load: `cat ${file}` },
  ];
  const rows = [];
  for (const v of list) {
    console.log(`variant ${v.name}: load ${load()}`);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    for (let i = argv.indexOf('-incoming'); i >= 0; i = argv.indexOf('-incoming')) argv.splice(i, 2);
    const clean = argv.filter((a) => a !== '-S');
    const q = await QmpClient.connect(qmp);
    const t0 = performance.now();
    await q.execute('migrate-set-parameters', { 'max-bandwidth': 64 * 2 ** 30 });
    await q.execute('stop');
    await q.execute('migrate', { uri: `exec:${v.save}` });
    let st;
    for (;;) {
      st = await q.execute('query-migrate');
      if (['completed', 'failed', 'cancelled'].includes(st.status)) break;
      await sleep(20);
    }
    const saveMs = performance.now() - t0;
    await q.execute('quit').catch(() => {});
    q.close();
    for (let i = 0; i < 200; i++) {
      try {
        process.kill(pid, 0);
        await sleep(25);
      } catch {
        break;
      }
    }
    if (st.status !== 'completed') throw new Error(`variant ${v.name}: save ${st.status}`);
    const size = statSync(file).size;
    const t1 = performance.now();
    await run(clean[0], [...clean.slice(1), '-S', '-incoming', `exec:${v.load}`]);
    for (;;) {
      const m = await qmpOnce(qmp, 'query-migrate');
      if (m.status === 'completed') break;
      if (m.status === 'failed') throw new Error(`variant ${v.name}: load failed`);
      await sleep(10);
    }
    const loadMs = performance.now() - t1;
    await qmpOnce(qmp, 'cont');
    const row = { variant: v.name, saveMs: Math.round(saveMs), sizeMB: +(size / 1e6).toFixed(1), loadMs: Math.round(loadMs), ramSentMB: Math.round((st.ram?.transferred ?? 0) / 1e6) };
    console.log(JSON.stringify(row));
    rows.push(row);
    rmSync(file, { force: true });
    await sleep(2_000);
  }
  return rows;
}

const forced = process.env.SKIFF_SHARE_FS ? `SKIFF_SHARE_FS=${process.env.SKIFF_SHARE_FS} ` : '';
const cmd = `npm run build && ${forced}flock /tmp/skiff-boot.lock node bench/suspend.mjs --rounds ${rounds}${withShare ? ' --share' : ''}${variants ? ' --variants' : ''}${zeroingPairs ? ` --zeroing ${zeroingPairs}` : ''}`;
const lines = [
  '# Suspend and resume against a cold start (issue 20)',
  '',
  `\`${cmd}\` on ${new Date().toISOString()}, load ${load()} at the end`,
  `machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, QEMU ${execFileSync('qemu-system-x86_64', ['--version']).toString().split('\n')[0].replace(/^QEMU emulator version /, '')}, TCG unless /dev/kvm works`,
  `guest: 2 vCPUs, 2 GiB, ${shareFs}, one idle container; times are wall clock of the CLI until it exits, then \`docker version\` answering`,
  '',
  `| | median (min–max) over ${rounds} rounds |`,
  '|---|---|',
  `| \`skiff start\`, cold, until docker answers | ${fmt(results.cold)} |`,
  `| \`skiff suspend\` | ${fmt(results.suspend)} |`,
  `| saved state | ${fmt(results.size, 'MB', 1e6)} |`,
  `| \`skiff start\` from the saved state, until docker answers | ${fmt(results.resume)} |`,
  `| QEMU's resident memory once docker answers, after the cold start | ${fmt(results.rssCold, 'MB', 1)} |`,
  `| the same, after the resume | ${fmt(results.rssResumed, 'MB', 1)} |`,
  '',
  `resume / cold: ${(stats(results.resume).median / stats(results.cold).median).toFixed(2)}`,
  '',
];
if (zeroRows.length) {
  const of = (z) => zeroRows.filter((r) => r.zero === z);
  lines.push(
    '## Freed pages zeroed (init_on_free=1) or not, page cache dropped before the save',
    '',
    `| guest kernel | cold start, median (min–max) over ${of(true).length} | state saved |`,
    '|---|---|---|',
    `| init_on_free=1 | ${fmt(of(true).map((r) => r.coldMs))} | ${fmt(of(true).map((r) => r.sizeMB), 'MB', 1)} |`,
    `| as shipped | ${fmt(of(false).map((r) => r.coldMs))} | ${fmt(of(false).map((r) => r.sizeMB), 'MB', 1)} |`,
    '',
  );
}
if (variantRows.length) {
  lines.push(
    '## Ways to save the same guest (QMP directly, one save and load each)',
    '',
    '| variant | save (ms) | size (MB) | RAM sent (MB) | load into a new QEMU (ms) |',
    '|---|---|---|---|---|',
    ...variantRows.map((r) => `| ${r.variant} | ${r.saveMs} | ${r.sizeMB} | ${r.ramSentMB} | ${r.loadMs} |`),
    '',
  );
}
writeFileSync(out, lines.join('\n'));
console.log(lines.join('\n'));
