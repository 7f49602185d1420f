#!/usr/bin/env node
// issue 21 item 4: which TCG setup boots fastest without the guest kernel's
// "Oops: int3". Needs no KVM; run under the boot lock:
//   npm run build && flock /tmp/skiff-boot.lock node bench/tcg.mjs [--rounds 5]
//     [--variants single2,single1,multi2,multi2-nokeys] [--containers 5] [--out FILE]
// Variants: one TCG thread with 2 vCPUs, one TCG thread with 1 vCPU,
// multi-threaded TCG with 2 vCPUs, and multi2-nokeys: the same with
// cgroup.memory=nokmem,nosocket on the kernel command line (the two static
// keys a container's first memory cgroup flips at run time); the first three
// by default. Each boot is the cold-start reference of bench/run.js (bench/lib/plain-qemu.js: the machine's kernel,
// initrd and a fresh copy of its data disk, to /_ping through `ssh -N -L`),
// then N `docker run --rm` of a busybox image (the oops came as containers
// started), then the guest console is searched for an oops. The order of the
// variants turns each round (ABC, CAB, BCA, ...) and the load is printed
// before each boot.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { plainBoot } from './lib/plain-qemu.js';
import { loadavg } from './lib/proc.js';
import { BenchSkiff, root } from './lib/skiff.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    variants: { type: 'string', default: 'single2,single1,multi2' },
    containers: { type: 'string', default: '5' },
    iso: { type: 'string', default: path.join(root, 'iso/out/skiff-amd64.iso') },
    out: { type: 'string', default: path.join(root, 'bench/tcg.results.md') },
  },
});
const VARIANTS = {
  single2: { label: 'one TCG thread, 2 vCPUs (skiff)', tcgThread: 'single', cpus: 2 },
  single1: { label: 'one TCG thread, 1 vCPU', tcgThread: 'single', cpus: 1 },
  multi2: { label: 'multi-threaded TCG, 2 vCPUs', tcgThread: 'multi', cpus: 2 },
  'multi2-nokeys': { label: 'multi-threaded TCG, 2 vCPUs, cgroup.memory=nokmem,nosocket', tcgThread: 'multi', cpus: 2, append: 'cgroup.memory=nokmem,nosocket' },
};
const names = args.variants.split(',');
for (const n of names) if (!VARIANTS[n]) throw new Error(`unknown variant ${n}: one of ${Object.keys(VARIANTS).join(', ')}`);
const rounds = Number(args.rounds);
const containers = Number(args.containers);
const OOPS = /^.*(Oops|BUG:|general protection fault|Kernel panic).*$/m;
const RIP = /^.*RIP: 0010:(\S+).*$/m;

function docker(sock, argv, timeoutMs = 120_000) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    // SIGKILL: on SIGTERM `docker run --rm` waits to remove its container, forever when the guest died.
    execFile('docker', ['-H', `unix://${sock}`, ...argv], { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
      resolve({ ok: !err, ms: performance.now() - t0, out: `${stdout}${stderr}`.trim() }),
    );
  });
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return 'n/a';
  const f = (x) => (x / 1000).toFixed(2);
  return `${f(s[Math.floor((s.length - 1) / 2)])} s (${f(s[0])}–${f(s.at(-1))})`;
}

const sk = await BenchSkiff.create();
const results = Object.fromEntries(names.map((n) => [n, []]));
try {
  await sk.mustCli(['init', '--iso', args.iso, '--no-shares', '--cpus', '2', '--memory', '2G', '--disk', '4G']);
  // The first boot formats the data disk; the image for the containers goes on it.
  const st = JSON.parse((await sk.mustCli(['start', '--json'])).stdout);
  const imp = await docker(st.socket, ['import', path.join(root, 'iso/out/busybox-rootfs-amd64.tar'), 'skb/bb:1']);
  if (!imp.ok) throw new Error(`docker import: ${imp.out}`);
  await sk.mustCli(['stop']);
  const machineIso = /^\s+path:\s*(.+)$/m.exec(await readFile(path.join(sk.machineDir, 'config.yaml'), 'utf8'))?.[1]?.trim() ?? args.iso;
  for (let r = 0; r < rounds; r++) {
    const order = names.map((_, i) => names[(i + names.length - (r % names.length)) % names.length]);
    for (const name of order) {
      const v = VARIANTS[name];
      const load = loadavg();
      let row;
      try {
        const b = await plainBoot({
          machineDir: sk.machineDir,
          iso: path.resolve(machineIso),
          accel: 'tcg',
          cpus: v.cpus,
          memoryMiB: 2048,
          tcgThread: v.tcgThread,
          ...(v.append ? { appendExtra: v.append } : {}),
          timeoutMs: 180_000,
          whileUp: async ({ dockerSocket, consoleLog }) => {
            const runs = [];
            for (let i = 0; i < containers; i++) {
              const c = await docker(dockerSocket, ['run', '--rm', 'skb/bb:1', 'busybox', 'true'], 60_000);
              runs.push(c);
              if (!c.ok) break;
            }
            const console = await readFile(consoleLog, 'utf8').catch(() => '');
            const oops = OOPS.exec(console);
            return { runs, oops: oops ? `${oops[0].replace(/^\[[\s\d.]+\]\s*/, '')} at ${RIP.exec(console)?.[1] ?? '?'}` : undefined, failed: runs.find((c) => !c.ok)?.out };
          },
        });
        row = { bootMs: b.ms, runMs: b.extra.runs.filter((c) => c.ok).map((c) => c.ms), oops: b.extra.oops, failed: b.extra.failed };
      } catch (e) {
        // A guest that dies before /_ping (an oops at boot) is a result too.
        row = { bootMs: undefined, runMs: [], oops: undefined, failed: e.message.split('\n')[0] };
      }
      results[name].push(row);
      console.log(JSON.stringify({ round: r + 1, variant: name, load, ...row, runMs: row.runMs.map(Math.round), bootMs: row.bootMs && Math.round(row.bootMs) }));
    }
  }
} finally {
  // delete stops the machine first.
  await sk.destroy();
}

const qemu = await new Promise((res) => execFile('qemu-system-x86_64', ['--version'], (e, o) => res(o.split('\n')[0])));
const cmd = `npm run build && flock /tmp/skiff-boot.lock node bench/tcg.mjs --rounds ${rounds} --variants ${args.variants} --containers ${containers}`;
const lines = [
  '# TCG threads and vCPUs: cold boot and the int3 oops (issue 21 item 4)',
  '',
  `\`${cmd}\` on ${new Date().toISOString()}, load ${loadavg()} at the end`,
  `machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Linux ${os.release()}, ${qemu}; guest 2048 MiB, the cold-start reference boot of bench/run.js (plain QEMU, \`ssh -N -L\`), then ${containers} \`docker run --rm\` of busybox \`true\``,
  '',
  `| variant | boots | boot to /_ping, median (min–max) | one \`docker run --rm\`, median (min–max) | oops or failure |`,
  '|---|---|---|---|---|',
  ...names.map((n) => {
    const rs = results[n];
    const bad = rs.filter((x) => x.oops || x.failed);
    return `| ${VARIANTS[n].label} | ${rs.length} | ${stats(rs.map((x) => x.bootMs).filter((x) => x !== undefined))} | ${stats(rs.flatMap((x) => x.runMs))} | ${bad.length ? `${bad.length}: ${[...new Set(bad.map((x) => x.oops ?? x.failed))].join('; ')}` : 'none'} |`;
  }),
  '',
];
await writeFile(args.out, lines.join('\n'));
console.log(lines.join('\n'));
