#!/usr/bin/env node
// issue 18: how fast the docker socket answers after a VM pause, and how far the
// guest clock is off then. Boots one throwaway machine (run under the boot lock):
//   npm run build && flock /tmp/skiff-boot.lock node bench/sleep.mjs [--pauses 5,10,20,40,60] [--iso PATH] [--out FILE]
// For each pause: QMP `stop`, wait, `cont`; a /_ping sent through the agent's
// socket at the moment of `cont` gives the resume-to-answer time; 3 s later the
// guest clock is read with `adjtimex` over a fresh SSH connection, best of three
// round trips (offset ± half the round trip). The pauses are QEMU pauses: the agent holds its
// link through them (QMP says paused), so this is the held-link path.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAdjtimex } from '../dist/agent/clock.js';
import { qmpOnce } from '../dist/drivers/qemu/qmp.js';
import { connectSsh, loadSshTarget } from '../dist/ssh/connect.js';
import { execCollect } from '../dist/ssh/exec.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const pauses = arg('pauses', '5,10,20,40,60').split(',').map(Number);
const iso = path.resolve(arg('iso', path.join(here, '../iso/out/skiff-amd64.iso')));
const out = arg('out', path.join(here, 'sleep.results.md'));
const root = mkdtempSync(path.join(os.tmpdir(), 'skb-sleep-'));
const env = {
  ...process.env,
  SKIFF_HOME: path.join(root, 'home'),
  SKIFF_RUNTIME_DIR: path.join('/tmp', `skb-sleep-${process.pid}`),
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function skiff(args) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(here, '../bin/skiff.js'), ...args], { env, timeout: 400_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`skiff ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

function ping(socketPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: '/_ping' }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
  });
}

/**
 * The guest clock against the host's, read with `adjtimex` over SSH: `skiff ssh`
 * would put a whole handshake inside the round trip, and the reading is only as
 * precise as half of that. The best of three round trips on one connection.
 */
async function clockOffset(target) {
  // A fresh connection for each reading: the handshake is outside the timed round trips.
  const conn = await connectSsh(target);
  try {
    return await bestOfThree(conn);
  } finally {
    conn.client.end();
  }
}

async function bestOfThree(conn) {
  let best;
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    const r = await execCollect(conn.client, 'adjtimex');
    const t1 = Date.now();
    const c = { offsetMs: parseAdjtimex(r.stdout.toString()).ms - (t0 + t1) / 2, errMs: (t1 - t0) / 2 };
    if (!best || c.errMs < best.errMs) best = c;
  }
  return best;
}

const rows = [];
try {
  await skiff(['init', '--iso', iso, '--no-shares', '--cpus', '2', '--memory', '1G', '--disk', '4G']);
  const { socket, ssh } = JSON.parse(await skiff(['start', '--json']));
  const qmp = path.join(path.dirname(socket), 'qmp.sock');
  await ping(socket);
  const machineDir = path.join(env.SKIFF_HOME, 'machines', 'default');
  const target = await loadSshTarget({ ...ssh, user: 'root', keyPath: path.join(machineDir, 'id_ed25519'), hostPubPath: path.join(machineDir, 'ssh_host_ed25519_key.pub') });
  for (const ms of pauses) {
    await qmpOnce(qmp, 'stop');
    await sleep(ms * 1000);
    const t = performance.now();
    await qmpOnce(qmp, 'cont');
    await ping(socket);
    const answerMs = performance.now() - t;
    await sleep(3_000);
    const c = await clockOffset(target);
    const row = { pauseS: ms, answerMs: Math.round(answerMs), clockOffsetMs: Math.round(c.offsetMs), clockErrMs: Math.round(c.errMs) };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
} finally {
  await skiff(['stop', '--force']).catch(() => {});
  await skiff(['delete', '--yes']).catch(() => {});
  rmSync(root, { recursive: true, force: true });
  rmSync(env.SKIFF_RUNTIME_DIR, { recursive: true, force: true });
}

const answers = rows.map((r) => r.answerMs).sort((a, b) => a - b);
const median = answers[Math.floor((answers.length - 1) / 2)];
const lines = [
  `# Resume to answer (issue 18)`,
  '',
  `\`npm run build && flock /tmp/skiff-boot.lock node bench/sleep.mjs --pauses ${pauses.join(',')}\` on ${new Date().toISOString()}, load ${os.loadavg()[0].toFixed(1)}`,
  `machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, QEMU under TCG unless /dev/kvm works`,
  '',
  '| pause (s) | `cont` to `/_ping` answered (ms) | guest clock − host 3 s later (ms) |',
  '|---|---|---|',
  ...rows.map((r) => `| ${r.pauseS} | ${r.answerMs} | ${r.clockOffsetMs} ± ${r.clockErrMs} |`),
  '',
  `median ${median} ms, max ${answers[answers.length - 1]} ms over ${rows.length} pauses`,
  '',
];
writeFileSync(out, lines.join('\n'));
console.log(lines.join('\n'));
