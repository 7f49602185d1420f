import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skiff } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { freePort } from '../helpers/sshd.js';
import { BUILT_ISO, requireArtifacts, STATIC_BUSYBOX } from '../helpers/e2e.js';
import { fetchLocal } from '../helpers/http-get.js';
import { askUdp, UDP_ECHO_C } from '../helpers/udp.js';

/**
 * issue 13: two real QEMU guests on a private network as one Docker Swarm. The
 * host's docker CLI talks to the manager through `skiff shellinit -m swarm-1`; a
 * service published by the routing mesh answers on the host's 127.0.0.1, from a
 * task on either node; the swarm and its service survive `swarm down` + `swarm up`;
 * a worker that left is joined again and its stale entry removed.
 * Under TCG two boots at once take ~45 s each on 2 cores: timeouts are generous.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-e2e-swarm-'));
const env: NodeJS.ProcessEnv = {
  SKIFF_HOME: path.join(root, 'home'),
  SKIFF_RUNTIME_DIR: path.join('/tmp', `sk-e2s-${process.pid}`),
  DOCKER_CONFIG: path.join(root, 'docker-config'),
};
const NODES = ['swarm-1', 'swarm-2'];
let PORT = 0;
let UDP_PORT = 0;
let manager = '';
const hosts: Record<string, string> = {};

async function run(args: string[], timeoutMs = 600_000) {
  const r = await skiff(args, env, timeoutMs);
  if (r.code !== 0) throw new Error(`skiff ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms: number): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Pages served on the host's 127.0.0.1:PORT until every node's page was seen (the mesh balances per connection). */
async function pagesFromEveryNode(ms: number): Promise<Set<string>> {
  const seen = new Set<string>();
  // Every distinct answer (page or error) with its count: a timeout says what did come back.
  const answers = new Map<string, number>();
  try {
    await until(`pages from ${NODES.join(' and ')} on 127.0.0.1:${PORT}`, async () => {
      const r = await fetchLocal(PORT);
      const key = 'status' in r ? `${r.status} ${r.body.trim()}` : `error ${r.error}`;
      answers.set(key, (answers.get(key) ?? 0) + 1);
      if ('status' in r && r.status === 200) seen.add(r.body.trim());
      return NODES.every((n) => seen.has(`node ${n}`)) ? true : undefined;
    }, ms);
  } catch (e) {
    throw new Error(`${(e as Error).message}; answers: ${JSON.stringify(Object.fromEntries(answers))}`);
  }
  return seen;
}

interface StatusJson {
  managerReachable: boolean;
  members: Array<{ machine: string; vm: string; address: string; node?: { role: string; state: string; id: string } }>;
}

beforeAll(async () => {
  requireArtifacts();
  PORT = await freePort();
  UDP_PORT = await freePort();
});

afterAll(async () => {
  // Whatever failed, no VM or agent of this suite outlives it.
  await skiff(['swarm', 'down'], env, 300_000);
  await skiff(['swarm', 'rm', '--yes'], env, 300_000);
  rmSync(root, { recursive: true, force: true });
  rmSync(env.SKIFF_RUNTIME_DIR!, { recursive: true, force: true });
}, 600_000);

describe('skiff swarm (real QEMU guests)', () => {
  it('swarm up --nodes 2 creates and starts both machines, one manager and one worker, both Ready', async () => {
    const r = await run(['swarm', 'up', '--nodes', '2', '--iso', BUILT_ISO, '--no-shares', '--memory', '1G', '--json']);
    const out = JSON.parse(r.stdout) as { created: string[]; status: StatusJson };
    expect(out.created).toEqual(NODES);
    expect(out.status.members.map((m) => [m.machine, m.node?.role, m.node?.state])).toEqual([
      ['swarm-1', 'manager', 'ready'],
      ['swarm-2', 'worker', 'ready'],
    ]);
    expect(out.status.members.map((m) => m.address)).toEqual(['198.18.0.2', '198.18.0.3']);

    // shellinit -m swarm-1 points docker at the manager.
    const sh = JSON.parse((await run(['shellinit', '-m', 'swarm-1', '--json', '--shell', 'bash'])).stdout) as { set: Record<string, string> };
    manager = sh.set.DOCKER_HOST!;
    expect(manager).toMatch(/^unix:\/\/.*swarm-1/);
    for (const n of NODES) hosts[n] = (JSON.parse((await run(['shellinit', '-m', n, '--json', '--shell', 'bash'])).stdout) as { set: Record<string, string> }).set.DOCKER_HOST!;
    const ls = await docker(manager, ['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.ManagerStatus}}']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout.trim().split('\n').sort()).toEqual(['swarm-1 Ready Leader', 'swarm-2 Ready']);
  }, 900_000);

  it('a service with one task per node answers on the host, from both nodes through the mesh', async () => {
    // The image is built on each node (no registry): the same tag, a page that names the node.
    for (const n of NODES) {
      const ctx = path.join(root, `ctx-${n}`);
      mkdirSync(ctx);
      copyFileSync(STATIC_BUSYBOX, path.join(ctx, 'busybox'));
      writeFileSync(path.join(root, 'udpecho.c'), UDP_ECHO_C);
      execFileSync('gcc', ['-static', '-O2', '-o', path.join(ctx, 'udpecho'), path.join(root, 'udpecho.c')]);
      writeFileSync(
        path.join(ctx, 'Dockerfile'),
        `FROM scratch\nCOPY busybox /bin/busybox\nCOPY udpecho /bin/udpecho\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN mkdir /www && echo "node ${n}" > /www/index.html\n`,
      );
      const b = await docker(hosts[n]!, ['build', '-q', '-t', 'skiff-e2e/web:1', ctx], { env: { DOCKER_BUILDKIT: '0' } });
      expect(b.code, b.stderr).toBe(0);
    }
    // A user overlay network too: its subnet comes from skiff's pool, clear of the guest's 10.0.2.0/24.
    const net = await docker(manager, ['network', 'create', '--driver', 'overlay', '--attachable', 'appnet']);
    expect(net.code, net.stderr).toBe(0);
    const subnet = await docker(manager, ['network', 'inspect', 'appnet', '--format', '{{range .IPAM.Config}}{{.Subnet}}{{end}}']);
    expect(subnet.stdout.trim()).toMatch(/^10\.200\.\d+\.0\/24$/);
    const c = await docker(manager, [
      'service', 'create', '--detach', '--name', 'web', '--replicas', '2', '--replicas-max-per-node', '1', '--network', 'appnet',
      '--publish', `${PORT}:80`, 'skiff-e2e/web:1', 'httpd', '-f', '-p', '80', '-h', '/www',
    ]);
    expect(c.code, c.stderr).toBe(0);
    const placed = await until('a running task on each node', async () => {
      const ps = await docker(manager, ['service', 'ps', 'web', '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}']);
      const running = ps.stdout.trim().split('\n').filter((l) => /\bRunning\b/.test(l)).map((l) => l.split(' ')[0]);
      return running.length === 2 ? running.sort() : undefined;
    }, 240_000);
    expect(placed).toEqual(NODES);
    // As after a restart below: under TCG the mesh can take minutes to carry the first connections to both tasks.
    const seen = await pagesFromEveryNode(240_000);
    expect([...seen].sort()).toEqual(['node swarm-1', 'node swarm-2']);

    // Over the overlay: a container on the worker finds the service by name (embedded DNS gives its
    // VIP in skiff's pool) and reaches it. busybox's nslookup and nc, not wget: the static glibc
    // busybox's wget crashes on name lookups.
    const probe = 'ip=$(nslookup web 127.0.0.11 | sed -n "s/^Address: *//p" | tail -n 1); echo "vip $ip"; printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 5 "$ip" 80 | tail -n 1';
    const viaOverlay = await until('the service by name over the overlay from swarm-2', async () => {
      const r = await docker(hosts['swarm-2']!, ['run', '--rm', '--network', 'appnet', 'skiff-e2e/web:1', 'sh', '-c', probe]);
      return /^node swarm-[12]$/m.test(r.stdout) ? r.stdout.trim() : undefined;
    }, 120_000);
    expect(viaOverlay).toMatch(/^vip 10\.200\.\d+\.\d+\nnode swarm-[12]$/);
  }, 900_000);

  it("a service's published UDP port answers on the host's 127.0.0.1 through the manager, and closes with the service", async () => {
    const c = await docker(manager, [
      'service', 'create', '--detach', '--name', 'uecho', '--replicas', '1',
      '--publish', `published=${UDP_PORT},target=7,protocol=udp`, 'skiff-e2e/web:1', '/bin/udpecho', '7',
    ]);
    expect(c.code, c.stderr).toBe(0);
    // Under TCG the task and the mesh take a while: ask until it echoes.
    const reply = await until(`an echo on 127.0.0.1:${UDP_PORT}/udp`, async () => {
      const r = await askUdp(UDP_PORT, 'swarm-udp');
      return r === 'echo:swarm-udp' ? r : undefined;
    }, 240_000);
    expect(reply).toBe('echo:swarm-udp');
    const st = JSON.parse((await run(['status', '-m', 'swarm-1', '--json'])).stdout) as { ports?: Array<{ port: number; proto: string; state: string }> };
    expect(st.ports).toContainEqual(expect.objectContaining({ port: UDP_PORT, proto: 'udp', state: 'forwarded' }));
    const rm = await docker(manager, ['service', 'rm', 'uecho']);
    expect(rm.code, rm.stderr).toBe(0);
    const closed = await until(`127.0.0.1:${UDP_PORT}/udp closed`, async () => {
      const st2 = JSON.parse((await run(['status', '-m', 'swarm-1', '--json'])).stdout) as { ports?: Array<{ port: number; proto: string }> };
      return st2.ports?.some((p) => p.port === UDP_PORT && p.proto === 'udp') ? undefined : true;
    }, 60_000);
    expect(closed).toBe(true);
    // Nothing of skiff's listens there any more: the host may bind the port itself.
    const own = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      own.once('error', reject);
      own.bind(UDP_PORT, '127.0.0.1', () => resolve());
    });
    own.close();
  }, 600_000);

  it('swarm up on a running swarm changes nothing', async () => {
    const r = await run(['swarm', 'up', '--json']);
    const out = JSON.parse(r.stdout) as { created: string[]; started: string[]; steps: unknown[]; alreadyUp: boolean };
    expect(out).toMatchObject({ created: [], started: [], steps: [], alreadyUp: true });
  }, 120_000);

  it('swarm down, then swarm up: the swarm and its service come back', async () => {
    await run(['swarm', 'down']);
    const down = JSON.parse((await run(['swarm', 'status', '--json'])).stdout) as StatusJson;
    expect(down.members.map((m) => m.vm)).toEqual(['stopped', 'stopped']);
    expect(down.managerReachable).toBe(false);
    const r = await run(['swarm', 'up', '--json']);
    const out = JSON.parse(r.stdout) as { started: string[]; steps: unknown[]; status: StatusJson };
    expect(out.started).toEqual(NODES);
    // The swarm's state lives on the data disks: nobody has to join again.
    expect(out.steps).toEqual([]);
    expect(out.status.members.map((m) => m.node?.state)).toEqual(['ready', 'ready']);
    const seen = await pagesFromEveryNode(300_000);
    expect(seen.size).toBe(2);
  }, 900_000);

  it('a worker that left the swarm is joined again and its stale entry removed', async () => {
    const leave = await docker(hosts['swarm-2']!, ['swarm', 'leave']);
    expect(leave.code, leave.stderr).toBe(0);
    const r = await run(['swarm', 'up', '--json']);
    const out = JSON.parse(r.stdout) as { steps: Array<{ kind: string; machine: string }>; status: StatusJson };
    expect(out.steps).toEqual([{ kind: 'join', machine: 'swarm-2' }]);
    const ls = await docker(manager, ['node', 'ls', '--format', '{{.Hostname}} {{.Status}}']);
    expect(ls.stdout.trim().split('\n').sort()).toEqual(['swarm-1 Ready', 'swarm-2 Ready']);
  }, 300_000);
});
