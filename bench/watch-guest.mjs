#!/usr/bin/env node
/**
 * Host edit to a watcher in a container, end to end (issue 23 item 3), on one
 * throwaway machine:
 *
 *   npm run build && flock /tmp/skiff-boot.lock node bench/watch-guest.mjs [--edits 10] [--burst 1000]
 *
 * A container bind-mounts a shared project folder and runs a static inotify
 * watcher; `docker logs -f` streams what it sees to this process. Measured: for
 * `--edits` single edits, one after another, the time from the host's write to
 * the watcher's line arriving here; then `--burst` files touched at once (one
 * `touch`), the time until the watcher has reported every one, and the guest's
 * CPU time over it (/proc/stat, all CPUs); then, as the floor, one `chmod` of
 * the same files run in the guest itself. Writes bench/watch-guest.results.md
 * whole, as this one run measured it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BenchSkiff, root } from './lib/skiff.js';

const { values: a } = parseArgs({
  options: {
    edits: { type: 'string', default: '10' },
    burst: { type: 'string', default: '1000' },
    out: { type: 'string', default: path.join(root, 'bench', 'watch-guest.results.md') },
  },
});
const EDITS = Number(a.edits);
const BURST = Number(a.burst);
const log = (m) => console.error(`[watch-guest ${new Date().toISOString().slice(11, 19)}] ${m}`);

const WATCH_C = `#include <stdio.h>
#include <sys/inotify.h>
#include <unistd.h>
int main(int argc, char **argv) { int fd = inotify_init(); if (inotify_add_watch(fd, argv[1], IN_ATTRIB | IN_MODIFY) < 0) return 1;
 printf("WATCHING\\n"); fflush(stdout); char b[65536] __attribute__((aligned(8)));
 for (;;) { ssize_t n = read(fd, b, sizeof b); if (n <= 0) return 1;
  for (char *p = b; p < b + n;) { struct inotify_event *e = (struct inotify_event *)p; if (e->len) printf("%s\\n", e->name); p += sizeof *e + e->len; }
  fflush(stdout); } }`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sk = await BenchSkiff.create();
let logs;
try {
  const share = path.join(sk.base, 'share');
  const proj = path.join(share, 'proj');
  const tools = path.join(share, 'tools');
  mkdirSync(proj, { recursive: true });
  mkdirSync(tools);
  for (let i = 0; i < EDITS; i++) writeFileSync(path.join(proj, `edit${i}`), 'x\n');
  for (let i = 0; i < BURST; i++) writeFileSync(path.join(proj, `burst${i}`), 'x\n');
  writeFileSync(path.join(sk.base, 'w.c'), WATCH_C);
  execFileSync('gcc', ['-static', '-O2', '-o', path.join(tools, 'watch'), path.join(sk.base, 'w.c')]);

  await sk.mustCli(['init', '--iso', path.join(root, 'iso/out/skiff-amd64.iso'), '--share', share, '--json']);
  const started = JSON.parse((await sk.mustCli(['start', '--json'])).stdout);
  const env = { ...sk.env, DOCKER_HOST: `unix://${started.socket}` };
  const docker = (args) => execFileSync('docker', args, { env }).toString();
  docker(['import', path.join(root, 'iso/out/busybox-rootfs-amd64.tar'), 'skiff-bench/bb:1']);
  docker(['run', '-d', '--name', 'watcher', '-v', `${proj}:/w`, '-v', `${tools}:/tools:ro`, 'skiff-bench/bb:1', '/tools/watch', '/w']);
  for (;;) {
    const st = await sk.status();
    if (st.shares[0].watch.folders?.length === 2) break;
    await sleep(200);
  }
  const seen = new Map();
  let ready;
  const watching = new Promise((r) => (ready = r));
  logs = spawn('docker', ['logs', '-f', 'watcher'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let buf = '';
  logs.stdout.on('data', (d) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop();
    for (const l of lines) {
      if (l === 'WATCHING') ready();
      else if (!seen.has(l)) seen.set(l, performance.now());
    }
  });
  await watching;
  const waitFor = async (names) => {
    while (!names.every((n) => seen.has(n))) await sleep(5);
  };

  const single = [];
  for (let i = 0; i < EDITS; i++) {
    const t0 = performance.now();
    writeFileSync(path.join(proj, `edit${i}`), `edited ${i}\n`);
    await waitFor([`edit${i}`]);
    single.push(seen.get(`edit${i}`) - t0);
    await sleep(300);
  }
  single.sort((x, y) => x - y);
  log(`single edits: ${single.map((x) => x.toFixed(0)).join(' ')} ms`);

  const guestBusy = async () => {
    const r = await sk.mustCli(['ssh', '--', 'head', '-1', '/proc/stat']);
    const f = r.stdout.trim().split(/\s+/).slice(1).map(Number);
    return { busy: f[0] + f[1] + f[2] + f[5] + f[6] + f[7], total: f.reduce((x, y) => x + y, 0) };
  };
  const names = Array.from({ length: BURST }, (_, i) => `burst${i}`);
  const g0 = await guestBusy();
  const t0 = performance.now();
  execFileSync('sh', ['-c', `cd '${proj}' && touch burst*`]);
  await waitFor(names);
  const burstMs = Math.max(...names.map((n) => seen.get(n))) - t0;
  const g1 = await guestBusy();
  const busyS = (g1.busy - g0.busy) / 100;
  log(`burst of ${BURST}: all seen after ${burstMs.toFixed(0)} ms; guest CPU ${busyS.toFixed(2)} s`);
  // The floor: the same files given their mode by one chmod run in the guest itself (over 9p, no agent involved).
  await sleep(2_000);
  const floor = (await sk.mustCli(['ssh', '--', 'sh', '-c', 'a=$(cut -d" " -f1 /proc/uptime); chmod 644 "$1"/burst*; b=$(cut -d" " -f1 /proc/uptime); echo "$a $b"', 'sh', proj])).stdout.trim().split(' ').map(Number);
  const floorMs = (floor[1] - floor[0]) * 1000;
  log(`one chmod of the ${BURST} files in the guest: ${floorMs.toFixed(0)} ms`);

  const median = single[Math.floor(single.length / 2)];
  const lines = [
    '# Host edit to a watcher in a container (issue 23 item 3)',
    '',
    `\`npm run build && flock /tmp/skiff-boot.lock node bench/watch-guest.mjs --edits ${EDITS} --burst ${BURST}\` on ${new Date().toISOString()}, load ${os.loadavg()[0].toFixed(2)}`,
    `machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}; QEMU under TCG unless /dev/kvm works; share on 9p`,
    '',
    `| what | result |`,
    '|---|---|',
    `| one edit, host write to the watcher's line here (${EDITS} edits) | median ${median.toFixed(0)} ms, min ${single[0].toFixed(0)} ms, max ${single[single.length - 1].toFixed(0)} ms |`,
    `| ${BURST} files touched at once, until the watcher reported all | ${burstMs.toFixed(0)} ms |`,
    `| guest CPU (all CPUs, /proc/stat) from before the burst to after it was seen | ${busyS.toFixed(2)} s |`,
    `| floor: one \`chmod 644\` of those ${BURST} files run in the guest itself (guest /proc/uptime) | ${floorMs.toFixed(0)} ms |`,
    '',
    'Includes the 50 ms the agent gathers changes for, and `docker logs -f` carrying the line back.',
    '',
  ];
  writeFileSync(a.out, lines.join('\n'));
  console.log(lines.join('\n'));
} finally {
  logs?.kill();
  await sk.destroy();
}
