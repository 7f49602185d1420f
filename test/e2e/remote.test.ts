import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAgent } from '../../src/agent/control.js';
import { machinePaths } from '../../src/layout/paths.js';
import { fingerprint, publicKeyBlob } from '../../src/ssh/keys.js';
import { skiff, snapshot } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { BUILT_ISO, BUILT_ISO_ARM64, BUSYBOX_ROOTFS_AMD64, BUSYBOX_ROOTFS_ARM64, requireArtifacts, skiffOk, suiteEnv } from '../helpers/e2e.js';
import { fetchLocal } from '../helpers/http-get.js';
import { until } from '../helpers/agent-fixture.js';
import { freePort } from '../helpers/sshd.js';

/**
 * issue 25: remote hosts played by two QEMU guests booted from skiff's own
 * images, one x86_64 and one aarch64 (the Pi), on one private network. A
 * separate skiff home (`hosts`) boots them and adds two users to each: bob, in
 * the docker group, and alice, not. Everything under test runs in another home
 * (`laptop`) and reaches them only through the ssh driver, as any Linux host.
 * Under TCG the two boots together take a minute or two: timeouts are generous.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-e2e-remote-'));
const hosts = suiteEnv(path.join(root, 'hosts'), 'rmh');
const laptop = suiteEnv(path.join(root, 'laptop'), 'rml');
const key = path.join(root, 'id_ed25519');
const HOSTS = { px: { iso: BUILT_ISO, arch: 'x86_64' }, pa: { iso: BUILT_ISO_ARM64, arch: 'aarch64' } } as const;
type HostName = keyof typeof HOSTS;
const ssh: Record<HostName, { port: number; fp: string }> = { px: { port: 0, fp: '' }, pa: { port: 0, fp: '' } };
let dockerX = '';
let dockerA = '';
let PORT = 0;
let SERVICE_PORT = 0;

function laptopSkiff(args: string[], timeoutMs = 120_000) {
  return skiff(args, laptop, timeoutMs);
}

/** Root on a host, through the home that boots it (the test's own back door, not skiff under test). */
function onHost(h: HostName, script: string) {
  return skiffOk(hosts, ['ssh', '-m', h, '--', script], 60_000);
}

function initArgs(name: string, user: string, h: HostName): string[] {
  return ['init', '-m', name, '--driver', 'ssh', '--host', `${user}@127.0.0.1:${ssh[h].port}`, '--identity', key, '--host-key', ssh[h].fp];
}

/**
 * The hosts' own agents would forward the hosts' published ports on this same
 * machine, racing the machines under test for them: a real remote host has no
 * skiff agent beside the laptop's. Their VMs run on without one.
 */
async function stopHostAgent(h: HostName): Promise<void> {
  const saved = process.env.SKIFF_RUNTIME_DIR;
  process.env.SKIFF_RUNTIME_DIR = hosts.SKIFF_RUNTIME_DIR;
  try {
    await stopAgent(machinePaths(hosts.SKIFF_HOME!, h));
  } finally {
    if (saved === undefined) delete process.env.SKIFF_RUNTIME_DIR;
    else process.env.SKIFF_RUNTIME_DIR = saved;
  }
}

/** The page served on the laptop's 127.0.0.1:port, once it answers 200. */
function pageOn(port: number, ms: number): Promise<string> {
  return until(`a page on 127.0.0.1:${port}`, async () => {
    const g = await fetchLocal(port);
    return 'status' in g && g.status === 200 ? g.body.trim() : undefined;
  }, ms);
}

beforeAll(async () => {
  requireArtifacts({ iso: true, busybox: true, arm64: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'skiff-e2e-remote', '-f', key]);
  const pub = readFileSync(`${key}.pub`, 'utf8').trim();
  for (const [h, spec] of Object.entries(HOSTS)) {
    await skiffOk(hosts, ['init', '-m', h, '--arch', spec.arch, '--iso', spec.iso, '--no-shares', '--disk', '4G', '--network', 'rnet']);
  }
  await Promise.all(Object.keys(HOSTS).map((h) => skiffOk(hosts, ['start', '-m', h], 600_000)));
  for (const h of Object.keys(HOSTS) as HostName[]) {
    // The guest has no adduser: the users are written in by hand, bob into the docker group.
    await onHost(
      h,
      [
        'set -e',
        'for u in bob:1000 alice:1001; do n=${u%%:*}; i=${u##*:}',
        '  echo "$n:x:$i:$i::/home/$n:/bin/sh" >> /etc/passwd; echo "$n:*:20000:0:99999:7:::" >> /etc/shadow; echo "$n:x:$i:" >> /etc/group',
        `  mkdir -p /home/$n/.ssh; echo '${pub}' > /home/$n/.ssh/authorized_keys`,
        '  chown -R $i:$i /home/$n; chmod 700 /home/$n/.ssh; chmod 600 /home/$n/.ssh/authorized_keys',
        'done',
        "sed -i 's/^docker:x:\\([0-9]*\\):$/docker:x:\\1:bob/' /etc/group",
        'grep -q "^docker:.*:bob$" /etc/group',
      ].join('\n'),
    );
    const st = JSON.parse((await skiffOk(hosts, ['status', '-m', h, '--json'])).stdout) as { ssh: { port: number } };
    ssh[h] = { port: st.ssh.port, fp: fingerprint(publicKeyBlob(readFileSync(path.join(hosts.SKIFF_HOME!, 'machines', h, 'ssh_host_ed25519_key.pub'), 'utf8'))) };
    await stopHostAgent(h);
  }
  PORT = await freePort();
  SERVICE_PORT = await freePort();
}, 900_000);

afterAll(async () => {
  for (const m of ['x', 'a']) await laptopSkiff(['delete', '-y', '-m', m]).catch(() => undefined);
  for (const h of Object.keys(HOSTS)) {
    await skiff(['stop', '--force', '-m', h], hosts, 120_000);
    await skiff(['delete', '-y', '-m', h], hosts, 120_000);
  }
  for (const d of [root, hosts.SKIFF_RUNTIME_DIR!, laptop.SKIFF_RUNTIME_DIR!]) rmSync(d, { recursive: true, force: true });
}, 300_000);

describe('an x86_64 host over the ssh driver', () => {
  it('init pins the fingerprint given, finds the rootful engine socket bob may use', async () => {
    const r = await laptopSkiff([...initArgs('x', 'bob', 'px'), '--json']);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'x', driver: 'ssh', arch: 'x86_64', hostKey: ssh.px.fp, remote: { user: 'bob', engineSocket: '/var/run/docker.sock' } });
  });

  it('a user outside the docker group is refused with the fix, and nothing is saved', async () => {
    const home = laptop.SKIFF_HOME!;
    const before = snapshot(home);
    const r = await laptopSkiff(initArgs('al', 'alice', 'px'));
    expect(r.stderr).toMatch(/alice on alice@127\.0\.0\.1:\d+ may not use the Docker engine socket \/var\/run\/docker\.sock \(permission denied\)/);
    expect(r.stderr).toMatch(/usermod -aG docker alice/);
    expect(r.code).toBe(5);
    expect(snapshot(home)).toEqual(before);
  });

  it('start connects, and the docker CLI works through shellinit: images, containers, a published port', async () => {
    const r = await laptopSkiff(['start', '-m', 'x']);
    expect(r.code, r.stderr).toBe(0);
    dockerX = /export DOCKER_HOST='([^']+)'/.exec((await skiffOk(laptop, ['shellinit', '-m', 'x', '--shell', 'bash'])).stdout)![1]!;
    let d = await docker(dockerX, ['import', BUSYBOX_ROOTFS_AMD64, 'skiff-e2e/bb:1']);
    expect(d.code, d.stderr).toBe(0);
    d = await docker(dockerX, ['run', '--rm', 'skiff-e2e/bb:1', 'sh', '-c', 'echo hello from $(uname -m)']);
    expect(d.stdout.trim()).toBe('hello from x86_64');
    d = await docker(dockerX, ['run', '-d', '--name', 'web', '-p', `${PORT}:8080`, 'skiff-e2e/bb:1', 'sh', '-c', 'mkdir -p /www; echo page-from-px > /www/index.html; exec httpd -f -p 8080 -h /www']);
    expect(d.code, d.stderr).toBe(0);
    expect(await pageOn(PORT, 30_000)).toBe('page-from-px');
    const st = JSON.parse((await skiffOk(laptop, ['status', '-m', 'x', '--json'])).stdout) as { ports: Array<{ port: number; state: string }> };
    expect(st.ports).toEqual([expect.objectContaining({ port: PORT, state: 'forwarded' })]);
  }, 240_000);

  it('an SSH drop heals: the agent logs in again, docker and the port work on', async () => {
    // bob's sessions die on the host (sshd-session killed), as when a Wi-Fi link drops them. A
    // listed process may be gone by its turn (killing a session's privileged half ends the other;
    // a short exec of the agent's ends by itself): only the drop below is the test.
    await onHost('px', 'for p in $(ps -o pid,args | grep "sshd-session: bob" | grep -v grep | awk \'{print $1}\'); do kill $p 2>/dev/null; done; true');
    const log = path.join(laptop.SKIFF_HOME!, 'machines', 'x', 'agent.log');
    await until('the agent to see the drop and log in again', async () => {
      const text = readFileSync(log, 'utf8');
      const lost = text.lastIndexOf('SSH link lost');
      return lost >= 0 && text.indexOf('ssh connected', lost) > lost ? true : undefined;
    }, 60_000);
    const d = await docker(dockerX, ['ps', '--format', '{{.Names}}']);
    expect(d.stdout.trim()).toBe('web');
    expect(await pageOn(PORT, 30_000)).toBe('page-from-px');
  }, 120_000);
});

describe('an aarch64 host (the Pi) over the ssh driver', () => {
  it('init, start: the engine says aarch64 and an arm64 container runs', async () => {
    const r = await laptopSkiff([...initArgs('a', 'bob', 'pa'), '--json']);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ arch: 'aarch64', hostKey: ssh.pa.fp });
    expect((await laptopSkiff(['start', '-m', 'a'])).code).toBe(0);
    dockerA = /export DOCKER_HOST='([^']+)'/.exec((await skiffOk(laptop, ['shellinit', '-m', 'a', '--shell', 'bash'])).stdout)![1]!;
    const info = await docker(dockerA, ['info', '--format', '{{.Architecture}}']);
    expect(info.stdout.trim()).toBe('aarch64');
    let d = await docker(dockerA, ['import', '--platform', 'linux/arm64', BUSYBOX_ROOTFS_ARM64, 'skiff-e2e/bb:1']);
    expect(d.code, d.stderr).toBe(0);
    d = await docker(dockerA, ['run', '--rm', 'skiff-e2e/bb:1', 'uname', '-m']);
    expect(d.stdout.trim()).toBe('aarch64');
    const list = JSON.parse((await skiffOk(laptop, ['list', '--json'])).stdout) as Array<{ name: string; driver: string; state: string }>;
    expect(list.map((m) => [m.name, m.driver, m.state])).toEqual([
      ['a', 'ssh', 'running'],
      ['x', 'ssh', 'running'],
    ]);
  }, 240_000);
});

describe('a Swarm of the two remote hosts', () => {
  it('swarm up --machines x,a: the Pi joins on the private address; a service page reaches the laptop', async () => {
    const r = await laptopSkiff(['swarm', 'up', '--name', 'rs', '--machines', 'x,a', '--json'], 300_000);
    expect(r.code, r.stderr).toBe(0);
    const up = JSON.parse(r.stdout) as { status: { manager: string; members: Array<{ machine: string; node?: { role: string; state: string }; address: string }> } };
    expect(up.status.manager).toBe('x');
    const byName = new Map(up.status.members.map((m) => [m.machine, m]));
    expect(byName.get('x')?.node).toMatchObject({ role: 'manager', state: 'ready' });
    expect(byName.get('a')?.node).toMatchObject({ role: 'worker', state: 'ready' });
    // Both guests hold 10.0.2.15 (QEMU's user network): only the private network joins them.
    expect(byName.get('x')!.address).not.toBe('10.0.2.15');

    const svc = await docker(dockerX, [
      'service', 'create', '-d', '--name', 'page', '--constraint', 'node.role==manager',
      '--publish', `published=${SERVICE_PORT},target=8080`, 'skiff-e2e/bb:1',
      'sh', '-c', 'mkdir -p /www; echo service-page > /www/index.html; exec httpd -f -p 8080 -h /www',
    ]);
    expect(svc.code, svc.stderr).toBe(0);
    expect(await pageOn(SERVICE_PORT, 120_000)).toBe('service-page');
    const nodes = await docker(dockerX, ['node', 'ls', '--format', '{{.Hostname}} {{.Status}}']);
    expect(nodes.stdout.trim().split('\n').sort()).toEqual(['pa Ready', 'px Ready']);
  }, 420_000);
});

describe('stop and delete leave the hosts alone', () => {
  it('stop disconnects; the host and its containers run on', async () => {
    expect((await laptopSkiff(['stop', '-m', 'x'])).code).toBe(0);
    const st = JSON.parse((await skiffOk(laptop, ['status', '-m', 'x', '--json'])).stdout) as { state: string; agent: { state: string } };
    expect(st).toMatchObject({ state: 'stopped', agent: { state: 'stopped' } });
    const host = JSON.parse((await skiffOk(hosts, ['status', '-m', 'px', '--json'])).stdout) as { state: string };
    expect(host.state).toBe('running');
    // The guest has no docker CLI: the container's page, asked on the host itself.
    const page = await onHost('px', `wget -qO- http://127.0.0.1:${PORT}/`);
    expect(page.stdout.trim()).toBe('page-from-px');
  }, 120_000);

  it('delete forgets the machines and touches nothing on the hosts', async () => {
    for (const m of ['x', 'a']) expect((await laptopSkiff(['delete', '-y', '-m', m])).code).toBe(0);
    expect(JSON.parse((await skiffOk(laptop, ['list', '--json'])).stdout)).toEqual([]);
    const left = await onHost('px', `wget -qO- http://127.0.0.1:${PORT}/; grep -c skiff-e2e-remote /home/bob/.ssh/authorized_keys`);
    expect(left.stdout.trim().split('\n')).toEqual(['page-from-px', '1']);
  }, 120_000);
});
