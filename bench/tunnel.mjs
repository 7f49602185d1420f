#!/usr/bin/env node
/**
 * Tunnel benchmark: the skiff agent vs OpenSSH `ssh -N -L sock:sock`, both against
 * the same loopback sshd forwarding to the same unix-socket sink/source.
 *
 *   node bench/tunnel.mjs [--mb 512] [--rounds 3] [--rt 500] [--only js,native,ssh] [--profile DIR]
 *
 * Throughput is measured where the data lands (bytes counted at the sink, first
 * byte to last byte), after a warm-up transfer on each tunnel. Round trips: 1-byte
 * echo on a new connection each time, and on one kept-alive connection.
 * The agent runs twice: with ssh2's native crypto binding if it is installed, and
 * with the binding blocked (the pure JS / OpenSSL path every host has).
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuSeconds, sampleRss } from './lib/proc.js';
import { summarize } from './lib/stats.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    mb: { type: 'string', default: '512' },
    rounds: { type: 'string', default: '3' },
    rt: { type: 'string', default: '500' },
    warmup: { type: 'string', default: '64' },
    // Development aids: write the agent's CPU profile to DIR; run only some tunnels.
    profile: { type: 'string' },
    only: { type: 'string' },
  },
});
const MB = 1024 * 1024;
const TOTAL = Number(args.mb) * MB;
const ROUNDS = Number(args.rounds);
const RT = Number(args.rt);
const WARMUP = Number(args.warmup) * MB;

async function compile(out) {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const files = ['src/agent/main.ts', 'src/agent/control.ts', 'test/helpers/sshd.ts'].map((f) => path.join(root, f));
  await new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      [tsc, ...files, '--outDir', out, '--rootDir', root, '--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--esModuleInterop', '--skipLibCheck', '--types', 'node'],
      (err, so, se) => (err ? reject(new Error(so + se)) : resolve()),
    ),
  );
  await writeFile(path.join(out, 'package.json'), '{"type":"module"}\n');
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function answers(sock) {
  return new Promise((resolve) => {
    const s = net.connect(sock);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

const block = randomBytes(MB);

/** Upload: client writes `total` bytes; the rate is taken at the sink (first byte -> last byte). */
function upload(sockPath, stream, total) {
  return new Promise((resolve, reject) => {
    let first = 0;
    const onBytes = (n) => {
      if (!first) first = performance.now();
      if (n >= total) {
        stream.off('bytes', onBytes);
        resolve(total / MB / ((performance.now() - first) / 1000));
      }
    };
    stream.on('bytes', onBytes);
    const s = net.connect({ path: sockPath, allowHalfOpen: true });
    s.on('error', reject);
    s.on('data', () => {});
    s.on('end', () => s.end());
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        const n = Math.min(block.length, total - sent);
        sent += n;
        if (!s.write(n === block.length ? block : block.subarray(0, n))) return void s.once('drain', pump);
      }
      s.end();
    };
    s.on('connect', () => {
      s.write('SINK\n');
      pump();
    });
  });
}

/** Download: the client is the sink; same first-byte -> last-byte rate. */
function download(sockPath, total) {
  return new Promise((resolve, reject) => {
    const s = net.connect(sockPath);
    let first = 0;
    let got = 0;
    s.on('error', reject);
    s.on('data', (d) => {
      if (!first) first = performance.now();
      got += d.length;
      if (got >= total) {
        resolve(total / MB / ((performance.now() - first) / 1000));
        s.destroy();
      }
    });
    s.write(`SOURCE ${total}\n`);
  });
}

function echoOnce(sockPath) {
  return new Promise((resolve, reject) => {
    const s = net.connect(sockPath);
    s.on('error', reject);
    s.once('data', () => (s.destroy(), resolve()));
    s.write('ECHO\nx');
  });
}

async function rtNew(sockPath, n) {
  for (let i = 0; i < 20; i++) await echoOnce(sockPath);
  const t = performance.now();
  for (let i = 0; i < n; i++) await echoOnce(sockPath);
  return n / ((performance.now() - t) / 1000);
}

async function rtKept(sockPath, n) {
  const s = net.connect(sockPath);
  await new Promise((r, j) => (s.once('connect', r), s.once('error', j)));
  s.write('ECHO\n');
  const one = () => new Promise((r) => (s.once('data', r), s.write('x')));
  for (let i = 0; i < 50; i++) await one();
  const t = performance.now();
  for (let i = 0; i < n * 4; i++) await one();
  const rate = (n * 4) / ((performance.now() - t) / 1000);
  s.destroy();
  return rate;
}

/**
 * Every tunnel is measured in each round, one after another, so a burst of load from
 * other processes on this shared machine hits them alike; the order flips every round
 * (A B, B A, A B, ...) so neither side always goes first. Medians count, min–max is the spread.
 */
async function measureAll(tunnels, stream) {
  for (const t of tunnels) {
    await upload(t.sock, stream, WARMUP);
    await download(t.sock, WARMUP);
    Object.assign(t, { up: [], down: [], rtNew: [], rtKept: [], cpuUp: [], cpuDown: [] });
  }
  for (let i = 0; i < ROUNDS; i++) {
    const order = i % 2 ? [...tunnels].reverse() : tunnels;
    console.error(`round ${i + 1}: load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}, order ${order.map((t) => t.name).join(', ')}`);
    for (const t of order) {
      // The forwarder's own CPU per GB moved: unlike MB/s, barely disturbed by other load.
      let c = cpuSeconds(t.pid);
      t.up.push(await upload(t.sock, stream, TOTAL));
      t.cpuUp.push((cpuSeconds(t.pid) - c) / (TOTAL / 1024 / MB));
      c = cpuSeconds(t.pid);
      t.down.push(await download(t.sock, TOTAL));
      t.cpuDown.push((cpuSeconds(t.pid) - c) / (TOTAL / 1024 / MB));
      t.rtNew.push(await rtNew(t.sock, RT));
      t.rtKept.push(await rtKept(t.sock, RT));
      console.error(`round ${i + 1} ${t.name}: up ${t.up[i].toFixed(0)} MB/s (${t.cpuUp[i].toFixed(2)} cpu-s/GB), down ${t.down[i].toFixed(0)} MB/s (${t.cpuDown[i].toFixed(2)} cpu-s/GB), new-conn ${t.rtNew[i].toFixed(0)}/s, kept ${t.rtKept[i].toFixed(0)}/s`);
    }
  }
  const keys = ['up', 'down', 'rtNew', 'rtKept', 'cpuUp', 'cpuDown'];
  return tunnels.map((t) => Object.fromEntries([['name', t.name], ['rss', t.rss?.stop()], ...keys.map((k) => [k, summarize(t[k])])]));
}

// Per run: bench/run.* or a second engineer may run this at the same time.
const out = path.join(root, 'node_modules', '.cache', `skiff-bench-${process.pid}`);
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await compile(out);
const { startSshd, startStreamServer } = await import(pathToFileURL(path.join(out, 'test/helpers/sshd.js')).href);
const { startAgent, stopAgent } = await import(pathToFileURL(path.join(out, 'src/agent/control.js')).href);
const entry = path.join(out, 'src/agent/main.js');

const dir = await mkdtemp(path.join(os.tmpdir(), 'skb-'));
const sshd = await startSshd();
const remote = path.join(dir, 'remote.sock');
const stream = await startStreamServer(remote, { fast: true });
let ssh;
const specs = [];
const results = [];
const tunnels = [];
try {
  const agentRun = async (name, env) => {
    const run = path.join(dir, name);
    const spec = {
      machine: name, sshHost: sshd.host, sshPort: sshd.port, user: sshd.user, keyPath: sshd.keyPath, hostPubPath: sshd.hostPubPath,
      socketPath: path.join(run, 's.sock'), pidPath: path.join(run, 'agent.pid'), statePath: path.join(run, 'agent.json'),
      logPath: path.join(dir, `${name}.log`), remoteSocket: remote,
    };
    specs.push(spec);
    const saved = process.env.NODE_OPTIONS;
    if (env) process.env.NODE_OPTIONS = env;
    let pid;
    try {
      pid = await startAgent(spec, { entry, timeoutMs: 20_000, nodeArgs: args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : [] });
    } finally {
      if (env) process.env.NODE_OPTIONS = saved ?? '';
      if (env && saved === undefined) delete process.env.NODE_OPTIONS;
    }
    // The agent's own RSS, sampled by its pid for the whole run (peak reported below).
    tunnels.push({ name, sock: spec.socketPath, pid, rss: sampleRss(pid) });
  };

  const nativeInstalled = existsSync(path.join(root, 'node_modules/ssh2/lib/protocol/crypto/build/Release/sshcrypto.node'));
  const noBinding = `--require=${path.join(root, 'bench', 'tunnel-no-binding.cjs')}`;
  const want = (k) => !args.only || args.only.split(',').includes(k);
  if (want('js')) await agentRun('agent (no native binding)', noBinding);
  if (nativeInstalled && want('native')) await agentRun('agent (native binding)', undefined);
  if (want('ssh')) {
    const known = path.join(dir, 'known_hosts');
    await writeFile(known, `[127.0.0.1]:${sshd.port} ${(await readFile(sshd.hostPubPath, 'utf8')).trim()}\n`);
    const local = path.join(dir, 'ssh.sock');
    ssh = spawn('ssh', [
      '-N', '-F', '/dev/null', '-i', sshd.keyPath, '-p', String(sshd.port),
      '-o', `UserKnownHostsFile=${known}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
      '-o', 'Ciphers=aes128-gcm@openssh.com', '-o', 'ExitOnForwardFailure=yes', '-o', 'StreamLocalBindUnlink=yes',
      '-L', `${local}:${remote}`, `${sshd.user}@127.0.0.1`,
    ], { stdio: ['ignore', 'ignore', 'inherit'] });
    for (let i = 0; i < 100 && !(await answers(local)); i++) await sleep(100);
    tunnels.push({ name: 'ssh -N -L (OpenSSH, aes128-gcm)', sock: local, pid: ssh.pid });
  }
  results.push(...(await measureAll(tunnels, stream)));
} finally {
  ssh?.kill('SIGTERM');
  for (const s of specs) await stopAgent({ dockerSocket: s.socketPath, agentPid: s.pidPath, agentState: s.statePath }).catch(() => {});
  await stream.close();
  await sshd.stop();
  await rm(dir, { recursive: true, force: true });
  await rm(out, { recursive: true, force: true });
}

const base = results.find((r) => r.name.startsWith('ssh')) ?? results[results.length - 1];
const f = (x, d = 0) => `${x.median.toFixed(d)} (${x.min.toFixed(d)}–${x.max.toFixed(d)})`;
const ratio = (a, b) => (a / b).toFixed(2) + 'x';
console.log(`\nTunnel benchmark, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version}, ${TOTAL / MB} MB per transfer, median (min–max) of ${ROUNDS} rounds\n`);
const rel = (r, k) => (r === base ? '' : ` (${ratio(r[k].median, base[k].median)})`);
console.log('| tunnel | upload MB/s | download MB/s | new-connection round trips/s | kept-alive round trips/s | forwarder CPU s/GB up / down |');
console.log('|---|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.name} | ${f(r.up)}${rel(r, 'up')} | ${f(r.down)}${rel(r, 'down')} | ${f(r.rtNew)}${rel(r, 'rtNew')} | ${f(r.rtKept)}${rel(r, 'rtKept')} | ${f(r.cpuUp, 2)} / ${f(r.cpuDown, 2)} |`);
}
for (const r of results) if (r.rss !== undefined) console.log(`agent peak RSS: ${r.name}: ${r.rss.toFixed(1)} MB`);
