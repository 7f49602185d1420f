import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pingOnce, pingRatesInterleaved } from './docker-api.js';
import { killAndWait, loadavg, rssMB, sampleRss, shellJoin, sleep, started } from './proc.js';
import { root } from './skiff.js';
import { summarize } from './stats.js';
import { sshForwardArgv } from './plain-qemu.js';

const MB = 1024 * 1024;
const BLOCK = 64 * 1024;
export const GUEST_SINK = '/run/skiff-bench-sink.sock';
export const GUEST_SOURCE = '/run/skiff-bench-source.sock';

/**
 * Guest side: socat (in the image) serves a sink that counts what it receives
 * (`wc -c`, answered after the client's EOF, so the count is taken where the data
 * lands) and a source that sends N 64 KiB blocks of zeros. socat copies with
 * 128 KiB buffers so its own per-read cost stays small under TCG.
 */
const PIDS = '/run/skiff-bench.pids';
export const GUEST_SETUP = [
  `rm -f ${GUEST_SINK} ${GUEST_SOURCE}`,
  `socat -b 131072 UNIX-LISTEN:${GUEST_SINK},fork,mode=600 SYSTEM:'wc -c' </dev/null >/dev/null 2>&1 & echo $! > ${PIDS}`,
  `socat -b 131072 UNIX-LISTEN:${GUEST_SOURCE},fork,mode=600 SYSTEM:'read n; exec dd if=/dev/zero bs=65536 count=$n 2>/dev/null' </dev/null >/dev/null 2>&1 & echo $! >> ${PIDS}`,
  `sleep 0.5; ls ${GUEST_SINK} ${GUEST_SOURCE}`,
].join('; ');
// Only the socat processes started above: the guest's own engine check uses socat too.
export const GUEST_TEARDOWN = `kill $(cat ${PIDS}) 2>/dev/null; rm -f ${PIDS} ${GUEST_SINK} ${GUEST_SOURCE}; true`;

const block = randomBytes(BLOCK);

/** Upload `total` bytes, half-close, and wait for the sink's byte count; MB/s from first write to the count. */
export function upload(sock, total) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path: sock, allowHalfOpen: true });
    let reply = '';
    let t0 = 0;
    s.on('error', reject);
    s.on('data', (d) => (reply += d));
    s.on('end', () => {
      const ms = performance.now() - t0;
      s.destroy();
      const counted = Number(reply.trim());
      if (counted !== total) return reject(new Error(`sink counted ${reply.trim() || 'nothing'} of ${total} bytes`));
      resolve(total / MB / (ms / 1000));
    });
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        sent += BLOCK;
        if (!s.write(block)) return void s.once('drain', pump);
      }
      s.end();
    };
    s.on('connect', () => ((t0 = performance.now()), pump()));
  });
}

/** Download `total` bytes from the source; MB/s from the request to the last byte. */
export function download(sock, total) {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    let got = 0;
    let t0 = 0;
    s.on('error', reject);
    s.on('data', (d) => {
      got += d.length;
      if (got >= total) {
        const ms = performance.now() - t0;
        s.destroy();
        resolve(total / MB / (ms / 1000));
      }
    });
    s.on('end', () => got < total && reject(new Error(`source ended after ${got} of ${total} bytes`)));
    s.on('connect', () => ((t0 = performance.now()), s.write(`${total / BLOCK}\n`)));
  });
}

async function waitSocket(sock, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const ok = await new Promise((r) => {
      const s = net.connect(sock);
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${sock} never accepted a connection`);
}

/**
 * Agent vs OpenSSH through the real guest's sshd. Throughput: the agent (the
 * same dist/agent code skiff runs, started with a different remote socket) and
 * `ssh -N -L` each forward to the guest's socat sink and source. Round trips:
 * skiff's own agent socket vs `ssh -N -L` to /var/run/docker.sock, GET /_ping.
 */
export async function guestTunnel({ sk, mb, rt, rounds, log }) {
  const st = await sk.status();
  const { port } = st.ssh;
  const dir = path.join(sk.base, 'gt');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const key = path.join(sk.machineDir, 'id_ed25519');
  const hostPub = path.join(sk.machineDir, 'ssh_host_ed25519_key.pub');
  const knownHosts = path.join(dir, 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${(await readFile(hostPub, 'utf8')).trim()}\n`);
  const { startAgent, stopAgent } = await import(pathToFileURL(path.join(root, 'dist/agent/control.js')).href);

  const setup = await sk.cli(['ssh', '--', GUEST_SETUP]);
  if (setup.code !== 0) throw new Error(`guest sink/source setup failed: ${setup.stderr.trim()} ${setup.stdout.trim()}`);

  const agents = [];
  const sshProcs = [];
  const commands = [];
  try {
    const benchAgent = async (name, remoteSocket, nodeArgs = []) => {
      const run = path.join(dir, name);
      const spec = {
        machine: `bench-${name}`, sshHost: '127.0.0.1', sshPort: port, user: 'root', keyPath: key, hostPubPath: hostPub,
        socketPath: path.join(run, 's.sock'), pidPath: path.join(run, 'agent.pid'), statePath: path.join(run, 'agent.json'),
        logPath: path.join(dir, `${name}.log`), remoteSocket,
      };
      agents.push(spec);
      const pid = await startAgent(spec, { timeoutMs: 60_000, nodeArgs });
      return { sock: spec.socketPath, pid };
    };
    const sinkAgent = await benchAgent('sink', GUEST_SINK);
    const sourceAgent = await benchAgent('source', GUEST_SOURCE);
    // Diagnostic: the same agent with TCP_NODELAY forced on its SSH socket (Nagle's cost on round trips).
    const nodelayAgent = await benchAgent('nodelay', '/var/run/docker.sock', ['--require', fileURLToPath(new URL('../diag/nodelay-preload.cjs', import.meta.url))]);

    const sshSink = path.join(dir, 'ssh-sink.sock');
    const sshSource = path.join(dir, 'ssh-source.sock');
    const sshDocker = path.join(dir, 'ssh-docker.sock');
    const argv = sshForwardArgv({ key, knownHosts, port, local: sshDocker });
    const i = argv.indexOf('-L');
    argv.splice(i, 0, '-L', `${sshSink}:${GUEST_SINK}`, '-L', `${sshSource}:${GUEST_SOURCE}`, '-o', 'Ciphers=aes128-gcm@openssh.com');
    const ssh = spawn('ssh', argv, { stdio: ['ignore', 'ignore', 'inherit'] });
    sshProcs.push(ssh);
    started.add(ssh.pid);
    commands.push(shellJoin(['ssh', ...argv]));
    for (const s of [sshSink, sshSource, sshDocker]) await waitSocket(s);

    const total = mb * MB;
    const warm = Math.min(total, 16 * MB);
    const realAgent = { sock: st.socket, pid: await sk.agentPid() };
    const tunnels = [
      { name: 'agent', up: sinkAgent, down: sourceAgent, docker: realAgent },
      { name: 'ssh -N -L', up: { sock: sshSink, pid: ssh.pid }, down: { sock: sshSource, pid: ssh.pid }, docker: { sock: sshDocker, pid: ssh.pid } },
    ];
    const mem = { agentIdleMB: rssMB(realAgent.pid), agentPeakBulkMB: NaN, agentPeakPingMB: NaN };
    for (const t of tunnels) {
      await upload(t.up.sock, warm);
      await download(t.down.sock, warm);
      if (!(await pingOnce(t.docker.sock, 10_000))) throw new Error(`no /_ping through ${t.name}`);
      Object.assign(t, { upMBs: [], downMBs: [], rtNew: [], rtKept: [] });
    }
    // Bulk transfers: each tunnel in turn, one transfer at a time; the order flips every round (ABBA).
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? [...tunnels].reverse() : tunnels;
      log(`guest tunnel round ${r + 1}/${rounds}: load ${loadavg()}, order ${order.map((t) => t.name).join(', ')}`);
      for (const t of order) {
        const isAgent = t.name === 'agent';
        const sUp = isAgent ? sampleRss(t.up.pid) : undefined;
        t.upMBs.push(await upload(t.up.sock, total));
        const sDown = isAgent ? sampleRss(t.down.pid) : undefined;
        t.downMBs.push(await download(t.down.sock, total));
        if (isAgent) mem.agentPeakBulkMB = Math.max(Number.isFinite(mem.agentPeakBulkMB) ? mem.agentPeakBulkMB : 0, sUp.stop(), sDown.stop());
        log(`guest tunnel round ${r + 1} ${t.name}: up ${t.upMBs[r].toFixed(1)} MB/s, down ${t.downMBs[r].toFixed(1)} MB/s`);
      }
    }
    // Round trips: short alternating batches over all three (agent, diagnostic agent, ssh).
    const diag = { name: 'agent + TCP_NODELAY (diagnostic)', docker: { sock: nodelayAgent.sock } };
    const all = [...tunnels, diag];
    const sPing = sampleRss(realAgent.pid);
    const rates = await pingRatesInterleaved(all.map((t) => t.docker.sock), { batches: rt, perBatch: 10 });
    mem.agentPeakPingMB = sPing.stop();
    all.forEach((t, i) => Object.assign(t, rates[i]));
    for (const t of all) log(`guest /_ping ${t.name}: new ${summarize(t.rtNew).median.toFixed(0)}/s, kept ${summarize(t.rtKept).median.toFixed(0)}/s (median of ${t.rtNew.length} batches)`);
    mem.agentAfterMB = rssMB(realAgent.pid);
    return {
      tunnels: tunnels.map((t) => ({ name: t.name, upMBs: t.upMBs, downMBs: t.downMBs, rtNew: t.rtNew, rtKept: t.rtKept })),
      nodelay: { name: diag.name, rtNew: diag.rtNew, rtKept: diag.rtKept },
      mem,
      commands,
      guestSetup: GUEST_SETUP,
    };
  } finally {
    for (const p of sshProcs) await killAndWait(p.pid);
    for (const a of agents) await stopAgent({ dockerSocket: a.socketPath, agentPid: a.pidPath, agentState: a.statePath }).catch(() => {});
    await sk.cli(['ssh', '--', GUEST_TEARDOWN]);
  }
}
