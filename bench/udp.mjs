#!/usr/bin/env node
// UDP through a published port (issue 22): round trips per second from one
// client (sequential, one datagram in flight) and from 8 clients at once, and
// loss at a fixed send rate, on 127.0.0.1 (QEMU's hostfwd) and [::1] (the agent's
// relay to it). Boots its own throwaway machine: run it under the boot lock.
//   flock /tmp/skiff-boot.lock node bench/udp.mjs [--seconds 5] [--rate 500]
// Needs the built ISO (iso/out/skiff-amd64.iso), gcc, /bin/busybox, docker.
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { BenchSkiff, root } from './lib/skiff.js';
import { startSshRelay } from './lib/udp-ssh-relay.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = arg('seconds', 5);
const RATE = arg('rate', 500);
const PORT = 47000 + (process.pid % 1000);
const OUT = path.join(root, 'bench', 'udp.results.md');

function machineLine() {
  return `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}`;
}

function renderMarkdown(r) {
  const rows = Object.entries(r.results).map(([path, v]) => {
    const loss = v[`lossAt${r.rate}pps`];
    return `| ${path} | ${v.oneClient.perSecond} | ${v.eightClients ? v.eightClients.perSecond : '-'} | ${loss.received}/${loss.sent} (${loss.lossPct}% lost) |`;
  });
  return [
    '# UDP through a published port (issue 22)',
    '',
    `\`npm run build && flock /tmp/skiff-boot.lock node bench/udp.mjs --seconds ${r.seconds} --rate ${r.rate}\` on ${r.date}, load ${r.load.toFixed(1)}`,
    `machine: ${r.machine}; QEMU under TCG`,
    '',
    `| path | round trips/s, 1 client | round trips/s, 8 clients | replies at ${r.rate} datagrams/s |`,
    '|---|---|---|---|',
    ...rows,
    '',
    '127.0.0.1 is QEMU\'s NAT (hostfwd_add, what skiff uses); ::1 is the agent\'s relay to it; the SSH relay is',
    'bench/lib/udp-ssh-relay.mjs, the alternative measured against it (framed datagrams over one SSH channel).',
    '',
  ].join('\n');
}

const ECHO_C = `#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
int main(void) { int s = socket(AF_INET, SOCK_DGRAM, 0); struct sockaddr_in a; memset(&a, 0, sizeof a);
 a.sin_family = AF_INET; a.sin_port = htons(7); if (bind(s, (struct sockaddr *)&a, sizeof a)) return 1;
 char b[65536]; for (;;) { struct sockaddr_in f; socklen_t l = sizeof f; ssize_t n = recvfrom(s, b, sizeof b, 0, (struct sockaddr *)&f, &l);
 if (n >= 0) sendto(s, b, n, 0, (struct sockaddr *)&f, l); } }`;

function client(host, port) {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  return new Promise((resolve) => s.connect(port, host, () => resolve(s)));
}

/** Sequential round trips for SECONDS: one datagram in flight per client; a reply lost after 1 s counts as lost. */
async function roundTrips(host, clients, port = PORT) {
  const socks = await Promise.all(Array.from({ length: clients }, () => client(host, port)));
  const end = Date.now() + SECONDS * 1000;
  let ok = 0;
  let lost = 0;
  await Promise.all(
    socks.map(async (s, i) => {
      let n = 0;
      while (Date.now() < end) {
        const text = `c${i}-${n++}`;
        const got = await new Promise((resolve) => {
          const t = setTimeout(() => (s.off('message', on), resolve(false)), 1000);
          const on = (m) => {
            if (m.toString() !== text) return;
            clearTimeout(t);
            s.off('message', on);
            resolve(true);
          };
          s.on('message', on);
          s.send(text);
        });
        if (got) ok++;
        else lost++;
      }
    }),
  );
  for (const s of socks) s.close();
  return { perSecond: Math.round(ok / SECONDS), lost };
}

/** RATE datagrams a second for SECONDS from one socket; replies counted until 2 s after the last send. */
async function lossAtRate(host, port = PORT) {
  const s = await client(host, port);
  const seen = new Set();
  s.on('message', (m) => seen.add(m.toString()));
  const total = RATE * SECONDS;
  const t0 = Date.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    s.send(`seq-${i}`);
  }
  await new Promise((r) => setTimeout(r, 2000));
  s.close();
  return { sent: total, received: seen.size, lossPct: +(((total - seen.size) / total) * 100).toFixed(2) };
}

const sk = await BenchSkiff.create();
try {
  await sk.mustCli(['init', '--iso', path.join(root, 'iso/out/skiff-amd64.iso'), '--no-shares', '--json']);
  const started = JSON.parse((await sk.mustCli(['start', '--json'])).stdout);
  const dockerEnv = { ...sk.env, DOCKER_HOST: `unix://${started.socket}`, DOCKER_BUILDKIT: '0' };
  const ctx = path.join(sk.base, 'ctx');
  mkdirSync(ctx, { recursive: true });
  writeFileSync(path.join(sk.base, 'echo.c'), ECHO_C);
  execFileSync('gcc', ['-static', '-O2', '-o', path.join(ctx, 'udpecho'), path.join(sk.base, 'echo.c')]);
  writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY udpecho /udpecho\n');
  execFileSync('docker', ['build', '-q', '-t', 'skiff-bench/udpecho', ctx], { env: dockerEnv });
  execFileSync('docker', ['run', '-d', '-p', `${PORT}:7/udp`, 'skiff-bench/udpecho', '/udpecho'], { env: dockerEnv });
  // Wait for the forward.
  for (let i = 0; ; i++) {
    const r = await roundTrips('127.0.0.1', 1).catch(() => ({ perSecond: 0 }));
    if (r.perSecond > 0) break;
    if (i > 30) throw new Error('the UDP port never answered');
  }
  const results = {};
  for (const host of ['127.0.0.1', '::1']) {
    results[host] = {
      oneClient: await roundTrips(host, 1),
      eightClients: await roundTrips(host, 8),
      [`lossAt${RATE}pps`]: await lossAtRate(host),
    };
  }
  // The alternative: the same datagrams over an SSH channel to a relay in the guest (one client).
  const relay = await startSshRelay({ machineDir: sk.machineDir, sshPort: started.ssh.port, guestPort: PORT, workDir: sk.base });
  try {
    results['ssh relay (prototype)'] = { oneClient: await roundTrips('127.0.0.1', 1, relay.port), [`lossAt${RATE}pps`]: await lossAtRate('127.0.0.1', relay.port) };
  } finally {
    relay.close();
  }
  const report = { date: new Date().toISOString(), machine: machineLine(), load: os.loadavg()[0], seconds: SECONDS, rate: RATE, results };
  console.log(JSON.stringify(report, null, 2));
  writeFileSync(OUT, renderMarkdown(report));
} finally {
  await sk.destroy();
}
