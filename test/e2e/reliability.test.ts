import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiConnection } from '../helpers/api-conn.js';
import { skiff } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { craftImageTar } from '../helpers/image-tar.js';
import { alive, isLoopback, pidsWithCommandLine, tcpListeners, waitGone } from '../helpers/proc.js';
import { BUILT_ISO, requireArtifacts, STATIC_BUSYBOX } from '../helpers/e2e.js';

/**
 * issue 8: faults, load, concurrency and security against one real machine (the
 * real ISO, QEMU under TCG here, the host's docker CLI). One machine serves every
 * check; it is booted ~6 times in all. Figures are printed as `RELIABILITY key=value`.
 */
const ISO_SRC = BUILT_ISO;
const BUSYBOX = STATIC_BUSYBOX;
const CYCLES = 3;
const HELD = 100;
const SEQUENTIAL = 1000;
const UPLOAD_BYTES = 1024 * 1024 * 1024;

const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-rel-'));
// Others may rebuild iso/out while this runs: boot a private copy.
const ISO = path.join(root, 'skiff-amd64.iso');
const env: NodeJS.ProcessEnv = {
  SKIFF_HOME: path.join(root, 'home'),
  SKIFF_RUNTIME_DIR: path.join('/tmp', `sk-rel-${process.pid}`),
  DOCKER_CONFIG: path.join(root, 'docker-config'),
};
const machineDir = path.join(env.SKIFF_HOME!, 'machines/default');
let dockerHost = '';
let socket = '';
let runDir = '';
const figures: Record<string, number | string> = {};

function figure(key: string, value: number | string): void {
  figures[key] = value;
  console.log(`RELIABILITY ${key}=${value}`);
}

async function run(args: string[], timeoutMs?: number) {
  const r = await skiff(args, env, timeoutMs);
  if (r.code !== 0) throw new Error(`skiff ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

async function status(): Promise<{ state: string; agent: { state: string; detail?: string }; ssh?: { port: number } }> {
  return JSON.parse((await run(['status', '--json'])).stdout);
}

/** A port free on the host's loopback right now (fixed ones clash with other suites). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function qemuPid(): number {
  return Number(readFileSync(path.join(runDir, 'qemu.pid'), 'utf8').trim());
}
function agentPid(): number {
  return Number(readFileSync(path.join(runDir, 'agent.pid'), 'utf8').trim());
}
/** Every QEMU process running this machine (its QMP socket is on the command line). */
function qemuProcesses(): number[] {
  return pidsWithCommandLine('qemu-system', path.join(runDir, 'qmp.sock'));
}

async function guest(cmd: string): Promise<string> {
  const r = await skiff(['ssh', '--', cmd], env, 120_000);
  if (r.code !== 0) throw new Error(`skiff ssh ${cmd} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function dockerOk(args: string[], timeoutMs?: number): Promise<string> {
  const r = await docker(dockerHost, args, { env: { DOCKER_BUILDKIT: '0' }, ...(timeoutMs ? { timeoutMs } : {}) });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Each cycle leaves a file on the volume; all of them must be there, intact, after every restart. */
const volumeFiles: Array<[string, string]> = [];
async function writeVolumeFile(name: string): Promise<void> {
  const content = `${name} ${Date.now()} ${Math.random()}`;
  // dd conv=fsync: the bytes are on the disk before the VM is killed, no matter the page cache.
  await dockerOk(['run', '--rm', '-v', 'rel-vol:/data', 'rel/bb:1', 'sh', '-c', `echo '${content}' | dd of=/data/${name} conv=fsync 2>/dev/null`]);
  volumeFiles.push([name, content]);
}
async function expectDataIntact(): Promise<void> {
  const images = (await dockerOk(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'])).split('\n');
  expect(images).toContain('rel/bb:1');
  const script = volumeFiles.map(([n]) => `cat /data/${n}`).join(' && ');
  const out = await dockerOk(['run', '--rm', '-v', 'rel-vol:/data', 'rel/bb:1', 'sh', '-c', script]);
  expect(out.trim().split('\n')).toEqual(volumeFiles.map(([, c]) => c));
}

beforeAll(() => {
  requireArtifacts();
  copyFileSync(ISO_SRC, ISO);
});

afterAll(async () => {
  // Whatever failed above, no VM or agent outlives the suite.
  for (const m of ['default', 'rel2']) {
    await skiff(['stop', '--force', '-m', m], env, 120_000);
    await skiff(['delete', '--yes', '-m', m], env, 120_000);
  }
  console.log(`RELIABILITY summary ${JSON.stringify(figures)}`);
  rmSync(root, { recursive: true, force: true });
  rmSync(env.SKIFF_RUNTIME_DIR!, { recursive: true, force: true });
}, 400_000);

describe('reliability and security of one machine', () => {
  it('init, then two `skiff start` at once boot exactly one VM', async () => {
    await run(['init', '--iso', ISO, '--no-shares', '--cpus', '2', '--memory', '2G', '--disk', '8G']);
    const [a, b] = await Promise.all([skiff(['start', '--json'], env, 320_000), skiff(['start', '--json'], env, 320_000)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const outs = [JSON.parse(a.stdout), JSON.parse(b.stdout)];
    // One booted it; the other waited on the lock and found it running.
    expect(outs.map((o) => o.alreadyRunning).sort()).toEqual([false, true]);
    expect(outs[0].ssh.port).toBe(outs[1].ssh.port);
    socket = outs[0].socket;
    runDir = path.dirname(socket);
    dockerHost = `unix://${socket}`;
    expect(qemuProcesses()).toHaveLength(1);
    // One agent (node .../agent/main.js) and one supervisor (sh ... skiff-agent-supervisor), not two of either.
    const specProcs = pidsWithCommandLine(path.join(runDir, 'agent.spec.json'));
    const supervisors = specProcs.filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('skiff-agent-supervisor'));
    expect(supervisors).toHaveLength(1);
    expect(specProcs.length - supervisors.length).toBe(1);
    // A guest kernel panic reboots the guest instead of leaving a hung VM "running".
    expect(readFileSync(`/proc/${qemuPid()}/cmdline`, 'utf8')).toMatch(/ panic=\d+/);
  }, 400_000);

  it('seeds data: an image built FROM scratch and a volume file fsync\'d inside', async () => {
    const ctx = path.join(root, 'ctx');
    mkdirSync(ctx);
    copyFileSync(BUSYBOX, path.join(ctx, 'busybox'));
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/sh"]\n');
    await dockerOk(['build', '-q', '-t', 'rel/bb:1', ctx], 240_000);
    await dockerOk(['volume', 'create', 'rel-vol']);
    await writeVolumeFile('seed');
    await expectDataIntact();
  }, 300_000);

  describe('security', () => {
    it('key files, the socket and the runtime dir are readable by the user alone', () => {
      for (const f of ['id_ed25519', 'ssh_host_ed25519_key', 'seed.tar', 'driver/data.qcow2', 'config.yaml']) {
        expect(statSync(path.join(machineDir, f)).mode & 0o077, f).toBe(0);
      }
      expect(statSync(machineDir).mode & 0o077).toBe(0);
      expect(statSync(socket).mode & 0o077).toBe(0);
      expect(statSync(runDir).mode & 0o077).toBe(0);
      expect(statSync(path.join(env.SKIFF_HOME!, 'machines')).mode & 0o077).toBe(0);
      for (const f of ['qmp.sock', 'agent.pid', 'agent.json', 'agent.spec.json', 'qemu.pid']) {
        expect(statSync(path.join(runDir, f)).mode & 0o077, f).toBe(0);
      }
    });

    it('every TCP listener of the VM and the agent is on 127.0.0.1, a published port too', async () => {
      const port = await freePort();
      await dockerOk(['run', '-d', '--name', 'rel-web', '-p', `${port}:80`, 'rel/bb:1', 'httpd', '-f', '-p', '80']);
      try {
        // The agent publishes the port once it sees the engine's start event.
        let listeners = tcpListeners([qemuPid(), agentPid()]);
        for (let i = 0; i < 100 && !listeners.some((l) => l.port === port); i++) {
          await new Promise((r) => setTimeout(r, 200));
          listeners = tcpListeners([qemuPid(), agentPid()]);
        }
        figure('listeners', listeners.map((l) => `${l.family === 4 ? l.address : 'v6'}:${l.port}`).join(','));
        expect(listeners.length).toBeGreaterThanOrEqual(2); // the SSH forward and the published port at least
        expect(listeners.some((l) => l.port === port)).toBe(true);
        expect(listeners.filter((l) => !isLoopback(l))).toEqual([]);
      } finally {
        await docker(dockerHost, ['rm', '-f', 'rel-web']);
      }
    }, 120_000);

    it('the engine never listens on TCP in the guest', async () => {
      const cmdline = await guest('tr "\\0" " " </proc/$(cat /run/docker.pid)/cmdline');
      expect(cmdline).toMatch(/dockerd/);
      expect(cmdline).not.toMatch(/tcp:\/\//);
      expect(cmdline).toMatch(/-H unix:\/\/\/var\/run\/docker\.sock/);
      const listening = await guest("cat /proc/net/tcp /proc/net/tcp6 | awk '$4 == \"0A\" {print $2}'");
      const ports = listening.split('\n').filter(Boolean).map((a) => Number.parseInt(a.split(':').pop()!, 16));
      expect(ports).toContain(22);
      expect(ports).not.toContain(2375);
      expect(ports).not.toContain(2376);
      expect(await guest('test -e /etc/docker/daemon.json && cat /etc/docker/daemon.json || true')).not.toMatch(/tcp:/);
    }, 60_000);

    it('the guest refuses passwords: keys only', async () => {
      const { ssh } = await status();
      const r = spawnSync('ssh', [
        '-p', String(ssh!.port),
        '-o', 'PreferredAuthentications=password,keyboard-interactive',
        '-o', 'PubkeyAuthentication=no',
        '-o', 'BatchMode=yes',
        '-o', 'StrictHostKeyChecking=no',
        '-o', `UserKnownHostsFile=${path.join(root, 'known_hosts')}`,
        '-o', 'ConnectTimeout=30',
        'root@127.0.0.1', 'true',
      ], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
    }, 70_000);
  });

  describe('agent faults', () => {
    it('sshd restarted in the guest (every session dropped) heals by itself, same agent', async () => {
      const pid = agentPid();
      const logPath = path.join(machineDir, 'agent.log');
      const logBefore = readFileSync(logPath, 'utf8').length;
      // Detached and delayed, so this command's own session ends first; then sshd is
      // restarted the hard way: the listener and every session (the agent's) killed.
      await guest(
        'setsid sh -c \'sleep 1; kill $(cat /run/sshd.pid); for p in $(pidof sshd-session sshd); do kill -9 $p; done; sleep 1; /usr/sbin/sshd -E /var/log/sshd.log\' </dev/null >/dev/null 2>&1 &',
      );
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, 3000));
      let ok = false;
      while (!ok && Date.now() - t0 < 90_000) {
        const r = await docker(dockerHost, ['version', '--format', '{{.Server.Version}}'], { timeoutMs: 30_000 });
        ok = r.code === 0;
        if (!ok) await new Promise((r2) => setTimeout(r2, 250));
      }
      figure('ssh_drop_recovery_seconds', ((Date.now() - t0) / 1000).toFixed(1));
      expect(ok).toBe(true);
      expect(agentPid()).toBe(pid);
      expect(alive(pid)).toBe(true);
      // This drop, not an earlier one: the link was lost, then logged in again.
      const log = readFileSync(logPath, 'utf8').slice(logBefore);
      expect(log).toMatch(/ssh reconnecting: SSH link lost: [^\n]*\n(.*\n)*.*ssh connected/);
      expect((await status()).agent.state).toBe('running');
    }, 120_000);

    it('a killed agent comes back by itself: docker never hangs, and works again within seconds', async () => {
      const pid = agentPid();
      const vm = qemuPid();
      process.kill(pid, 'SIGKILL');
      expect(await waitGone(pid)).toBe(true);
      const t0 = Date.now();
      // Right after the kill a command either fails cleanly or (the supervisor was quick) works: it never hangs.
      const first = await docker(dockerHost, ['version', '--format', '{{.Server.Version}}'], { timeoutMs: 30_000 });
      if (first.code !== 0) expect(first.stderr).toMatch(/Cannot connect to the Docker daemon|connection refused|no such file|EOF|reset/i);
      expect(Date.now() - t0).toBeLessThan(30_000);
      // No user action: poll until docker works again.
      let back = -1;
      while (Date.now() - t0 < 30_000) {
        if ((await docker(dockerHost, ['version', '--format', '{{.Server.Version}}'], { timeoutMs: 15_000 })).code === 0) {
          back = Date.now() - t0;
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(back, 'docker did not work again within 30 s of the agent being killed').toBeGreaterThanOrEqual(0);
      figure('agent_kill_recovery_ms', back);
      expect(agentPid()).not.toBe(pid);
      expect(qemuPid()).toBe(vm);
      const s = await status();
      expect(s.state).toBe('running');
      expect(s.agent.state).toBe('running');
      await expectDataIntact();
    }, 200_000);
  });

  describe(`SIGKILL of the VM, ${CYCLES} cycles`, () => {
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      it(`cycle ${cycle}: data written, QEMU killed -9, start recovers and every byte is there`, async () => {
        await writeVolumeFile(`cycle${cycle}`);
        const vm = qemuPid();
        const a = agentPid();
        // Cycle 2: the agent and its supervisor die first, so nobody notices the VM's
        // death: the leftovers are QEMU's pid file, QMP socket and state, the dead
        // agent's files and a lock a crashed skiff held. Otherwise the agent notices
        // (issue 26), records the crash, cleans up and exits.
        if (cycle === 2) {
          const sup = Number(readFileSync(path.join(runDir, 'agent-supervisor.pid'), 'utf8').trim());
          process.kill(sup, 'SIGKILL');
          process.kill(a, 'SIGKILL');
          expect(await waitGone(a)).toBe(true);
          const lock = path.join(env.SKIFF_HOME!, 'machines/.default.lock');
          mkdirSync(lock);
          const old = new Date(Date.now() - 60_000);
          utimesSync(lock, old, old);
        }
        process.kill(vm, 'SIGKILL');
        expect(await waitGone(vm)).toBe(true);
        if (cycle === 2) expect(existsSync(path.join(runDir, 'qemu.pid'))).toBe(true);
        else {
          expect(await waitGone(a, 15_000)).toBe(true);
          expect(existsSync(path.join(runDir, 'qemu.pid'))).toBe(false);
        }
        const s = await status();
        expect(s.state).toBe(cycle === 2 ? 'stopped' : 'crashed');
        const r = await docker(dockerHost, ['version'], { timeoutMs: 30_000 });
        expect(r.code).not.toBe(0);

        const out = JSON.parse((await run(['start', '--json'], 320_000)).stdout);
        expect(out.alreadyRunning).toBe(false);
        expect(qemuProcesses()).toHaveLength(1);
        expect((await status()).agent.state).toBe('running');
        await expectDataIntact();
        // The data disk was checked before it was mounted.
        // e2fsck -p's summary line for the data disk ("clean, N/M files" or, after a replayed journal, "N/M files").
        expect(await guest('cat /var/log/skiff.log')).toMatch(/^\S+: (clean, )?\d+\/\d+ files/m);
        figure('sigkill_cycles_survived', cycle);
      }, 500_000);
    }
  });

  it('`skiff upgrade` to a rebuilt image keeps every byte', async () => {
    // A rebuilt image stand-in: the same ISO with padding, so its checksum differs.
    const rebuilt = path.join(root, 'skiff-amd64-rebuilt.iso');
    copyFileSync(ISO, rebuilt);
    appendFileSync(rebuilt, Buffer.alloc(2048));
    await writeVolumeFile('before-upgrade');
    const r = JSON.parse((await run(['upgrade', '--iso', rebuilt, '--json'], 600_000)).stdout);
    expect(r).toMatchObject({ changed: true, wasRunning: true });
    expect((await status()).state).toBe('running');
    await expectDataIntact();
    figure('upgrades_survived', 1);
  }, 700_000);

  it('a changed guest host key: skiff refuses to connect, with a clear message', async () => {
    const pub = path.join(machineDir, 'ssh_host_ed25519_key.pub');
    const saved = readFileSync(pub);
    const other = path.join(root, 'other_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    try {
      writeFileSync(pub, readFileSync(`${other}.pub`));
      const ssh = await skiff(['ssh', '--', 'true'], env, 60_000);
      expect(ssh.code).not.toBe(0);
      expect(ssh.stderr.split('\n')[0]).toMatch(/^skiff: error: .*host key changed.*refusing/);
      process.kill(agentPid(), 'SIGKILL');
      const start = await skiff(['start'], env, 120_000);
      expect(start.code).not.toBe(0);
      expect(start.stderr.split('\n')[0]).toMatch(/^skiff: error: .*host key changed.*refusing/);
      expect((await docker(dockerHost, ['version'], { timeoutMs: 30_000 })).code).not.toBe(0);
    } finally {
      writeFileSync(pub, saved);
    }
    await run(['start'], 120_000);
    expect((await status()).agent.state).toBe('running');
  }, 300_000);

  describe('load', () => {
    it(`${HELD} Docker API connections held open while others make requests`, async () => {
      const conns: ApiConnection[] = [];
      try {
        for (let i = 0; i < HELD; i++) conns.push(await ApiConnection.open(socket));
        // All open at once: each holds its own SSH channel.
        const first = await Promise.all(conns.map((c) => c.ping(120_000)));
        expect(first.every((b) => b === 'OK')).toBe(true);
        for (let i = 0; i < 10; i++) expect((await dockerOk(['version', '--format', '{{.Server.APIVersion}}'])).trim()).toMatch(/^\d+\.\d+$/);
        await dockerOk(['run', '--rm', 'rel/bb:1', 'true'], 120_000);
        // Still open, still answering, after the others' traffic.
        const again = await Promise.all(conns.map((c) => c.ping(120_000)));
        expect(again.every((b) => b === 'OK')).toBe(true);
        expect(conns.filter((c) => c.closed)).toEqual([]);
        figure('connections_held', conns.length);
      } finally {
        for (const c of conns) c.close();
      }
    }, 600_000);

    it(`${SEQUENTIAL} sequential short docker CLI commands, no failure`, async () => {
      // `docker ps`: two API calls (/_ping, /containers/json) per run of the real CLI.
      // (`docker version` is no good here: the engine execs runc and docker-init to
      // answer /version, ~0.75 s per call under TCG.)
      const t0 = Date.now();
      const failures: string[] = [];
      for (let i = 0; i < SEQUENTIAL; i++) {
        const r = await docker(dockerHost, ['ps', '-a', '--format', '{{.Names}}'], { timeoutMs: 60_000 });
        if (r.code !== 0 || r.stderr !== '') failures.push(`#${i}: exit ${r.code}: ${r.stderr.trim()}`);
      }
      const ms = Date.now() - t0;
      figure('sequential_commands', SEQUENTIAL);
      figure('sequential_commands_seconds', (ms / 1000).toFixed(1));
      figure('sequential_command_ms_mean', (ms / SEQUENTIAL).toFixed(1));
      expect(failures).toEqual([]);
    }, 900_000);

    it('a 1 GiB `docker load` arrives intact (the engine checks each layer digest, a container hashes the file)', async () => {
      const dir = path.join(root, 'big');
      mkdirSync(dir);
      const img = craftImageTar(dir, 'rel/big:1', BUSYBOX, UPLOAD_BYTES);
      rmSync(path.join(dir, 'l2'), { recursive: true, force: true });
      const t0 = Date.now();
      const out = await dockerOk(['load', '-i', img.tarPath], 900_000);
      figure('upload_seconds', ((Date.now() - t0) / 1000).toFixed(1));
      expect(out).toMatch(/Loaded image: rel\/big:1/);
      rmSync(dir, { recursive: true, force: true });
      const sum = await dockerOk(['run', '--rm', 'rel/big:1', '/bin/busybox', 'sha256sum', '/blob'], 600_000);
      expect(sum.split(/\s+/)[0]).toBe(img.blobSha256);
      figure('upload_bytes', img.blobBytes);
      await dockerOk(['rmi', 'rel/big:1'], 300_000);
    }, 1_800_000);
  });

  it('a second machine runs side by side: its own port, socket, files and engine', async () => {
    await run(['init', '-m', 'rel2', '--iso', ISO, '--no-shares', '--cpus', '1', '--memory', '1G']);
    const two = JSON.parse((await run(['start', '-m', 'rel2', '--json'], 400_000)).stdout);
    const one = await status();
    expect(two.ssh.port).not.toBe(one.ssh!.port);
    expect(two.socket).not.toBe(socket);
    const host2 = `unix://${two.socket}`;
    const id1 = (await dockerOk(['info', '--format', '{{.ID}}'])).trim();
    const id2r = await docker(host2, ['info', '--format', '{{.ID}}']);
    expect(id2r.code, id2r.stderr).toBe(0);
    expect(id2r.stdout.trim()).not.toBe(id1);
    const imgs2 = await docker(host2, ['image', 'ls', '--format', '{{.Repository}}']);
    expect(imgs2.stdout).not.toMatch(/rel\/bb/);
    await expectDataIntact(); // the first is untouched
    await run(['stop', '-m', 'rel2'], 200_000);
    expect((await status()).state).toBe('running');
    await run(['delete', '--yes', '-m', 'rel2'], 120_000);
  }, 700_000);

  it('`stop` during `start` ends in a consistent state', async () => {
    await run(['stop'], 200_000);
    const starting = skiff(['start', '--json'], env, 400_000);
    // Let the start take the lock and launch QEMU, then ask for a stop.
    for (let i = 0; i < 100 && qemuProcesses().length === 0; i++) await new Promise((r) => setTimeout(r, 200));
    const stopping = skiff(['stop', '--json'], env, 400_000);
    const [a, b] = await Promise.all([starting, stopping]);
    expect(b.code, b.stderr).toBe(0);
    // The stop waited for the start's lock: the start finished its boot, then the stop stopped that machine.
    expect(a.code, a.stderr).toBe(0);
    expect(JSON.parse(a.stdout).alreadyRunning).toBe(false);
    expect(JSON.parse(b.stdout).wasRunning).toBe(true);
    const s = await status();
    expect(s.state).toBe('stopped');
    expect(s.agent.state).toBe('stopped');
    expect(qemuProcesses()).toEqual([]);
    expect(existsSync(socket)).toBe(false);
    // And it starts again cleanly.
    await run(['start'], 400_000);
    await expectDataIntact();
    figure('restarts_total', CYCLES + 4);
  }, 900_000);
});
