#!/usr/bin/env node
// The guest image's own figures, which iso/README.md quotes (issue 21 item 1):
// its build, its sizes, where a boot's time goes, and the aarch64 CPU model.
//   npm run build && flock /tmp/skiff-boot.lock node bench/iso.mjs
//     [--sections build,size,boot,arm64-cpu] [--rounds 3] [--arm64-rounds 2] [--out FILE]
// build:     both images built at once with a warm package cache, as .ci/setup does
//            (iso/out is rewritten; the build is reproducible, and the run says
//            whether SHA256SUMS came out the same), and what an empty cache would
//            download: the .debs each lock file names, as the cache holds them.
// size:      each ISO, its parts, and the other architecture's emulator in its root.
// boot:      amd64 machines through the CLI (a plain one, one with --binfmt, one on a
//            private network, whose engine manages its own iptables): the first boot
//            (formats the disk), then `--rounds` cold starts each in turned order;
//            the guest's stage markers, dockerd's log phases, and two timings inside
//            the guest (dockerd --version; 10 iptables calls against 10 busybox runs).
// arm64-cpu: the aarch64 image booted with skiff's own QEMU command line and only
//            -cpu changed, to SKIFF-READY on the console (no ssh), first boot of a
//            seeded disk each time.
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildQemuArgv } from '../dist/drivers/qemu/argv.js';
import { withBinfmt, withRebootOnPanic } from '../dist/drivers/qemu/driver.js';
import { freePort } from './lib/plain-qemu.js';
import { killAndWait, loadavg, mustRun, run, shellJoin, sleep, started } from './lib/proc.js';
import { BenchSkiff, parseConsole, root } from './lib/skiff.js';
import { fmtSeconds, summarize } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    sections: { type: 'string', default: 'build,size,boot,arm64-cpu' },
    rounds: { type: 'string', default: '3' },
    'arm64-rounds': { type: 'string', default: '2' },
    'arm64-cpus': { type: 'string', default: 'max;cortex-a72;neoverse-n1;max,pauth-impdef=on' },
    out: { type: 'string', default: path.join(root, 'bench/iso.results.md') },
  },
});
const sections = new Set(args.sections.split(','));
const rounds = Number(args.rounds);
const arm64Rounds = Number(args['arm64-rounds']);
const out = path.join(root, 'iso', 'out');
const isoOf = (arch) => path.join(out, `skiff-${arch}.iso`);
const MB = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    for (const pid of started) await killAndWait(pid);
    process.exit(130);
  });
}

const md = [];
const say = (line) => console.error(line);

// ---------------------------------------------------------------- build
async function buildSection() {
  const sumsBefore = await readFile(path.join(out, 'SHA256SUMS'), 'utf8').catch(() => '');
  const load = loadavg();
  const t0 = performance.now();
  const one = async (extra) => {
    const r = await run('npm', ['run', 'iso', '--', ...extra], { cwd: root });
    if (r.code !== 0) throw new Error(`npm run iso ${extra.join(' ')} failed:\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
    return performance.now() - t0;
  };
  const [amd64, arm64] = await Promise.all([one([]), one(['--arch', 'arm64'])]);
  const sumsAfter = await readFile(path.join(out, 'SHA256SUMS'), 'utf8');
  say(`build: amd64 ${secs(amd64)}, arm64 ${secs(arm64)} (load ${load})`);

  const cache = process.env.SKIFF_ISO_CACHE ?? path.join(os.homedir(), '.cache', 'skiff-iso');
  const debs = await readdir(path.join(cache, 'debs'));
  const download = {};
  const seen = new Set();
  let both = 0;
  for (const [arch, lock] of [['amd64', 'packages.lock'], ['arm64', 'packages.arm64.lock']]) {
    let bytes = 0;
    let qemuUser = 0;
    const missing = [];
    for (const line of (await readFile(path.join(root, 'iso', lock), 'utf8')).split('\n')) {
      const m = /^([^#\s=]+)=(\S+)$/.exec(line.trim());
      if (!m) continue;
      // apt's file names: the epoch's colon as %3a, then the architecture or "all".
      const stem = `${m[1]}_${m[2].replace(':', '%3a')}_`;
      const file = debs.find((f) => f === `${stem}${arch}.deb`) ?? debs.find((f) => f === `${stem}all.deb`);
      if (!file) {
        missing.push(m[1]);
        continue;
      }
      const size = (await stat(path.join(cache, 'debs', file))).size;
      bytes += size;
      if (m[1] === 'qemu-user') qemuUser = size;
      if (!seen.has(file)) (seen.add(file), (both += size));
    }
    download[arch] = { bytes, qemuUser, missing };
  }
  md.push(
    '## Build',
    '',
    `Both images at once, as .ci/setup builds them (\`npm run iso\` and \`npm run iso -- --arch arm64\`), warm package cache, load ${load} before:`,
    '',
    '| | wall from the start of both |',
    '| --- | --- |',
    `| amd64 done | ${secs(amd64)} |`,
    `| arm64 done | ${secs(arm64)} |`,
    '',
    `iso/out/SHA256SUMS after the build ${sumsAfter === sumsBefore ? 'is the same as before it (the build is reproducible)' : 'differs from the one before it'}.`,
    '',
    'What an empty package cache downloads: the `.deb`s each lock file names, as the cache holds them',
    `(Debian's \`qemu-user\` among them, of which the build unpacks one emulator): amd64 ${MB(download.amd64.bytes)}`,
    `(qemu-user ${MB(download.amd64.qemuUser)}), arm64 ${MB(download.arm64.bytes)} (qemu-user ${MB(download.arm64.qemuUser)}), both ${MB(both)} (architecture-independent packages once).`,
    ...['amd64', 'arm64'].filter((a) => download[a].missing.length).map((a) => `Not in the cache for ${a}, so not counted: ${download[a].missing.join(', ')}.`),
    '',
  );
}

// ---------------------------------------------------------------- size
async function isoFiles(iso) {
  const r = await mustRun('xorriso', ['-indev', iso, '-find', '/', '-type', 'f', '-exec', 'lsdl']);
  const files = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^\S+\s+\d+\s+\d+\s+\d+\s+(\d+)\s+.*'(\/[^']+)'$/.exec(line);
    if (m) files[m[2]] = Number(m[1]);
  }
  return files;
}

/** The largest files in the root, as `unsquashfs -lls` names them (EMU: the other architecture's emulator). */
const BIG_FILES = ['usr/sbin/dockerd', 'usr/bin/containerd', 'usr/bin/containerd-shim-runc-v2', 'usr/sbin/runc', 'usr/bin/EMU'];

async function sizeSection() {
  const rows = [];
  for (const [arch, emulator] of [['amd64', 'qemu-aarch64'], ['arm64', 'qemu-x86_64']]) {
    const iso = isoOf(arch);
    const files = await isoFiles(iso);
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'skb-iso-'));
    const big = {};
    try {
      await mustRun('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/skiff/root.sqfs', path.join(tmp, 'root.sqfs')]);
      const l = await mustRun('unsquashfs', ['-lls', path.join(tmp, 'root.sqfs'), ...BIG_FILES.map((f) => f.replace('EMU', emulator))]);
      for (const line of l.stdout.split('\n')) {
        const m = /^\S+\s+\S+\s+(\d+)\s.*squashfs-root\/(\S+)$/.exec(line);
        if (m) big[m[2] === `usr/bin/${emulator}` ? 'EMU' : m[2]] = Number(m[1]);
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    rows.push(`| ${arch} | ${MB((await stat(iso)).size)} | ${MB(files['/skiff/root.sqfs'])} | ${MB(files['/boot/vmlinuz'])} | ${MB(files['/boot/initrd.img'])} | ${BIG_FILES.map((f) => (f === 'usr/bin/EMU' ? `${emulator} ${MB(big.EMU)}` : MB(big[f]))).join(' | ')} |`);
  }
  md.push(
    '## Size',
    '',
    'iso/out as built: the ISO, its parts (`xorriso -find`), and the largest files in its root, uncompressed (`unsquashfs -lls`):',
    '',
    `| image | ISO | root squashfs | vmlinuz | initrd | ${BIG_FILES.map((f) => (f === 'usr/bin/EMU' ? 'emulator' : f.split('/').pop())).join(' | ')} |`,
    `| --- | --- | --- | --- | --- | ${BIG_FILES.map(() => '---').join(' | ')} |`,
    ...rows,
    '',
  );
}

// ---------------------------------------------------------------- boot (amd64, through the CLI)
const BOOT_VARIANTS = {
  plain: { label: 'plain (static NAT, binfmt off)', init: [] },
  binfmt: { label: '`--binfmt`', init: ['--binfmt'] },
  network: { label: '`--network` (engine manages iptables, second NIC)', init: ['--network', 'skb-iso'] },
};

/** dockerd's phases (seconds) from the last start in its log. */
function dockerdPhases(log) {
  const at = (re) => {
    let t;
    for (const line of log.split('\n')) {
      const m = /time="([^"]+)".*msg="([^"]*)/.exec(line);
      if (m && re.test(m[2])) t = Date.parse(m[1]);
    }
    return t;
  };
  const up = at(/^Starting up$/);
  const ls = at(/^Loading containers: start/);
  const ld = at(/^Loading containers: done/);
  const api = at(/^API listen on/);
  if ([up, ls, ld, api].some((x) => x === undefined) || !(up <= ls && ls <= ld && ld <= api)) return undefined;
  return { 'Starting up → Loading containers': (ls - up) / 1000, 'Loading containers (network controller)': (ld - ls) / 1000, 'loaded → API listen': (api - ld) / 1000 };
}

const GUEST_TIMINGS =
  'u() { cut -d" " -f1 /proc/uptime; }; ' +
  'a=$(u); dockerd --version >/dev/null; b=$(u); ' +
  'for i in 1 2 3 4 5 6 7 8 9 10; do iptables -t nat -C POSTROUTING -s 10.99.0.0/16 -j MASQUERADE 2>/dev/null; done; c=$(u); ' +
  'for i in 1 2 3 4 5 6 7 8 9 10; do busybox true; done; d=$(u); echo "$a $b $c $d"';

async function bootOnce(sk, variant, label) {
  const load = loadavg();
  const r = await sk.mustCli(['start', '--json']);
  const log = (await sk.mustCli(['ssh', '--', 'cat', '/var/log/dockerd.log'])).stdout;
  const t = (await sk.mustCli(['ssh', '--', 'sh', '-c', GUEST_TIMINGS])).stdout.trim().split(/\s+/).map(Number);
  const stop = await sk.mustCli(['stop']);
  const c = await sk.consoleMarkers();
  const row = {
    variant,
    label,
    load,
    wallMs: r.ms,
    stopMs: stop.ms,
    ready: c.ready,
    stages: Object.fromEntries(c.stages.map((s) => [s.stage, s.uptime])),
    dockerd: dockerdPhases(log),
    guest: t.length === 4 ? { dockerdVersion: t[1] - t[0], iptables10: t[2] - t[1], busybox10: t[3] - t[2] } : undefined,
  };
  say(`boot ${variant} ${label}: ${secs(r.ms)}, ready at ${c.ready} s uptime (load ${load})`);
  return row;
}

async function bootSection() {
  const names = Object.keys(BOOT_VARIANTS);
  const sks = {};
  const rows = [];
  try {
    for (const n of names) {
      sks[n] = await BenchSkiff.create();
      await sks[n].mustCli(['init', '--iso', isoOf('amd64'), '--no-shares', '--cpus', '2', '--memory', '2G', '--disk', '4G', ...BOOT_VARIANTS[n].init]);
      rows.push(await bootOnce(sks[n], n, 'first'));
    }
    for (let r = 0; r < rounds; r++) {
      const order = names.map((_, i) => names[(i + r) % names.length]);
      for (const n of order) rows.push(await bootOnce(sks[n], n, `later ${r + 1}`));
    }
  } finally {
    for (const sk of Object.values(sks)) await sk.destroy();
  }

  const med = (xs) => summarize(xs.filter((x) => Number.isFinite(x)).map((x) => x * 1000));
  const plain = rows.filter((x) => x.variant === 'plain');
  const first = plain[0];
  const later = plain.slice(1);
  // `shutdown` is printed by the stop, after the boot.
  const stageNames = [...new Set(plain.flatMap((x) => Object.keys(x.stages)))].filter((s) => s !== 'shutdown').sort((a, b) => (first.stages[a] ?? 99) - (first.stages[b] ?? 99));
  md.push(
    '## Boot, amd64 (through the CLI)',
    '',
    `Each machine: \`skiff init --iso iso/out/skiff-amd64.iso --no-shares --cpus 2 --memory 2G --disk 4G\` (plus the variant's option), a first \`skiff start\` (formats the disk), then ${rounds} cold starts each, the variants in turned order. Wall is \`skiff start\`'s own; stages are the guest's uptime at each \`SKIFF-STAGE\` marker on the console (the kernel's clock: QEMU and the firmware come before it).`,
    '',
    'Every boot, in the order run:',
    '',
    '| variant | boot | load before | `skiff start` wall | guest `SKIFF-READY` (uptime) | `skiff stop` wall |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((x) => `| ${BOOT_VARIANTS[x.variant].label} | ${x.label} | ${x.load} | ${secs(x.wallMs)} | ${x.ready ?? 'n/a'} s | ${secs(x.stopMs)} |`),
    '',
    'Median (min–max) of the later boots of each variant:',
    '',
    '| variant | `skiff start` wall | `SKIFF-READY` uptime | `skiff stop` wall |',
    '| --- | --- | --- | --- |',
    ...names.map((n) => {
      const l = rows.filter((x) => x.variant === n && x.label !== 'first');
      return `| ${BOOT_VARIANTS[n].label} | ${fmtSeconds(summarize(l.map((x) => x.wallMs)), 1)} | ${fmtSeconds(med(l.map((x) => x.ready)))} | ${fmtSeconds(summarize(l.map((x) => x.stopMs)), 1)} |`;
    }),
    '',
    `With \`--binfmt\`, the registration runs in the background; its marker came after the \`disk\` marker by ${fmtSeconds(med(rows.filter((x) => x.variant === 'binfmt').map((x) => x.stages.binfmt - x.stages.disk)))} (every boot of that machine).`,
    '',
    `Stages of the plain machine (uptime, s): its first boot, and the median (min–max) of its ${later.length} later boots:`,
    '',
    '| stage | first boot | later boots |',
    '| --- | --- | --- |',
    ...stageNames.map((s) => `| \`${s}\` | ${first.stages[s] ?? 'n/a'} | ${fmtSeconds(med(later.map((x) => x.stages[s])))} |`),
    `| \`SKIFF-READY\` | ${first.ready} | ${fmtSeconds(med(later.map((x) => x.ready)))} |`,
    '',
    'dockerd\'s phases from its log (`/var/log/dockerd.log`, the last start in it), median (min–max) over every boot of each variant:',
    '',
    `| phase | ${names.map((n) => BOOT_VARIANTS[n].label).join(' | ')} |`,
    `| --- | ${names.map(() => '---').join(' | ')} |`,
    ...Object.keys(rows.find((x) => x.dockerd)?.dockerd ?? {}).map(
      (p) => `| ${p} | ${names.map((n) => fmtSeconds(med(rows.filter((x) => x.variant === n && x.dockerd).map((x) => x.dockerd[p])))).join(' | ')} |`,
    ),
    `| whole: \`dockerd\` marker (its exec) → \`SKIFF-READY\` | ${names.map((n) => fmtSeconds(med(rows.filter((x) => x.variant === n).map((x) => x.ready - x.stages.dockerd)))).join(' | ')} |`,
    '',
    'Inside the guest, right after each start (`/proc/uptime` before and after, 10 ms resolution), median (min–max) over every boot:',
    '',
    '| command | seconds |',
    '| --- | --- |',
    `| \`dockerd --version\` (its pages cached by the start) | ${fmtSeconds(med(rows.map((x) => x.guest?.dockerdVersion)))} |`,
    `| 10 \`iptables -t nat -C ...\` | ${fmtSeconds(med(rows.map((x) => x.guest?.iptables10)))} |`,
    `| 10 \`busybox true\` | ${fmtSeconds(med(rows.map((x) => x.guest?.busybox10)))} |`,
    '',
    `The guest commands: \`${GUEST_TIMINGS}\``,
    '',
  );
}

// ---------------------------------------------------------------- arm64 -cpu
async function arm64CpuSection() {
  const cpus = args['arm64-cpus'].split(';');
  const qemuVersion = /version (\d+\.\d+\.\d+)/.exec((await mustRun('qemu-system-aarch64', ['--version'])).stdout)?.[1] ?? '0.0.0';
  const sk = await BenchSkiff.create();
  const samples = Object.fromEntries(cpus.map((c) => [c, []]));
  let shown;
  try {
    await sk.mustCli(['init', '--arch', 'aarch64', '--iso', isoOf('arm64'), '--no-shares', '--cpus', '2', '--memory', '2G', '--disk', '4G']);
    const boot = path.join(sk.machineDir, 'driver', 'boot');
    for (let r = 0; r < arm64Rounds; r++) {
      const order = cpus.map((_, i) => cpus[(i + r) % cpus.length]);
      for (const cpu of order) {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'skb-a64-'));
        let qemu;
        try {
          await copyFile(path.join(sk.machineDir, 'driver', 'data.qcow2'), path.join(dir, 'data.qcow2'));
          const argv = buildQemuArgv({
            name: 'bench', arch: 'aarch64', accel: 'tcg', qemuVersion, cpus: 2, memoryMiB: 2048,
            kernel: path.join(boot, 'vmlinuz'), initrd: path.join(boot, 'initrd.img'),
            append: withBinfmt(withRebootOnPanic((await readFile(path.join(boot, 'cmdline'), 'utf8')).trim()), false),
            dataDisk: path.join(dir, 'data.qcow2'), isoPath: isoOf('arm64'), sshPort: await freePort(),
            qmpSocket: path.join(dir, 'qmp.sock'), consoleLog: path.join(dir, 'console.log'), pidFile: path.join(dir, 'pid'),
            shares: [], daemonize: false,
          });
          argv[argv.indexOf('-cpu') + 1] = cpu;
          shown ??= shellJoin(argv.map((a) => a.replaceAll(dir, 'DIR').replaceAll(sk.base, 'HOME')));
          const load = loadavg();
          const t0 = performance.now();
          qemu = spawn('qemu-system-aarch64', argv, { stdio: 'ignore' });
          started.add(qemu.pid);
          let res;
          while (!res && performance.now() - t0 < 240_000 && qemu.exitCode === null) {
            await sleep(200);
            const c = parseConsole(await readFile(path.join(dir, 'console.log'), 'utf8').catch(() => ''));
            if (c.ready !== undefined) res = { wallMs: performance.now() - t0, ready: c.ready, load };
          }
          samples[cpu].push(res ?? { wallMs: NaN, ready: NaN, load });
          say(`arm64 -cpu ${cpu}: ${res ? `${secs(res.wallMs)}, ready at ${res.ready} s uptime` : 'no SKIFF-READY'} (load ${load})`);
        } finally {
          if (qemu && qemu.exitCode === null) {
            qemu.kill('SIGKILL'); // a throwaway disk copy: nothing to flush
            await new Promise((res) => qemu.once('exit', res));
          }
          await rm(dir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    await sk.destroy();
  }
  md.push(
    '## aarch64 guest: which `-cpu` under TCG',
    '',
    `qemu-system-aarch64 ${qemuVersion}, skiff's own command line for the machine with only \`-cpu\` changed, each boot a first boot (mke2fs) of a copy of the freshly seeded disk, ${arm64Rounds} rounds in turned order; wall from QEMU's launch to \`SKIFF-READY\` on the console, the guest's uptime then, and the 1-minute load before:`,
    '',
    '| `-cpu` | wall, median (min–max) | each boot: wall (ready uptime) [load] |',
    '| --- | --- | --- |',
    ...cpus.map((c) => `| \`${c}\` | ${fmtSeconds(summarize(samples[c].map((x) => x.wallMs)), 1)} | ${samples[c].map((x) => `${secs(x.wallMs)} (${x.ready} s) [${x.load.split(' ')[0]}]`).join(', ')} |`),
    '',
    `The command line (DIR a temporary directory, HOME the bench's SKIFF_HOME and runtime dir): \`qemu-system-aarch64 ${shown}\``,
    '',
  );
}

const when = new Date().toISOString();
const head = await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: root });
const qemuX = (await run('qemu-system-x86_64', ['--version'])).stdout.split('\n')[0];
try {
  if (sections.has('build')) await buildSection();
  if (sections.has('size')) await sizeSection();
  if (sections.has('boot')) await bootSection();
  if (sections.has('arm64-cpu')) await arm64CpuSection();
} finally {
  for (const pid of started) await killAndWait(pid);
}
const cmd = `npm run build && flock /tmp/skiff-boot.lock node bench/iso.mjs --sections ${args.sections} --rounds ${rounds} --arm64-rounds ${arm64Rounds}`;
const text = [
  '# The guest image: build, size, boot',
  '',
  `\`${cmd}\` on ${head.stdout.trim()}, started ${when}, load ${loadavg()} at the end.`,
  `Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Linux ${os.release()}, ${qemuX}, no KVM (TCG).`,
  '',
  ...md,
].join('\n');
await writeFile(args.out, text);
console.log(text);
