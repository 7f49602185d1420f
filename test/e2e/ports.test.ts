import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skiff } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { freePort } from '../helpers/sshd.js';
import { BUILT_ISO, removeSuiteMachine, requireArtifacts, STATIC_BUSYBOX } from '../helpers/e2e.js';
import { fetchLocal } from '../helpers/http-get.js';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { askUdp, hasIpv6Loopback, UDP_ECHO_C } from '../helpers/udp.js';

/**
 * issue 6 (ports): with the real ISO under QEMU and the host's real docker CLI, a
 * published container port answers on the host's 127.0.0.1 with no user action,
 * closes when the container stops, and comes back for a running container after
 * the agent is restarted.
 */
const ISO = BUILT_ISO;
const BUSYBOX = STATIC_BUSYBOX;
// Free host ports, picked when the suite starts: other suites on this host publish ports too.
let PORT = 0;
let LATE_PORT = 0;
let UDP_PORT = 0;
let UDP_BUSY = 0;

const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-e2e-ports-'));
const env: NodeJS.ProcessEnv = {
  SKIFF_HOME: path.join(root, 'home'),
  SKIFF_RUNTIME_DIR: path.join('/tmp', `sk-e2p-${process.pid}`),
  DOCKER_CONFIG: path.join(root, 'docker-config'),
};
let dockerHost = '';
let socketPath = '';

async function run(args: string[], timeoutMs?: number) {
  const r = await skiff(args, env, timeoutMs);
  if (r.code !== 0) throw new Error(`skiff ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms: number): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return { value: v, ms: Date.now() - t0 };
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const served = (port: number, ms: number) =>
  until(`a page on 127.0.0.1:${port}`, async () => {
    const r = await fetchLocal(port);
    return 'status' in r && r.status === 200 ? r.body : undefined;
  }, ms);

const refused = (port: number, ms: number) =>
  until(`127.0.0.1:${port} to refuse connections`, async () => {
    const r = await fetchLocal(port);
    return 'error' in r && r.error === 'ECONNREFUSED' ? true : undefined;
  }, ms);

beforeAll(async () => {
  PORT = await freePort();
  LATE_PORT = await freePort();
  UDP_PORT = await freePort();
  UDP_BUSY = await freePort();
  requireArtifacts();
});

afterAll(async () => {
  await removeSuiteMachine(env, [root, env.SKIFF_RUNTIME_DIR!]);
}, 240_000);

describe('published ports on the host loopback', () => {
  it('boots a machine', async () => {
    await run(['init', '--iso', ISO, '--no-shares', '--json']);
    const out = JSON.parse((await run(['start', '--json'], 300_000)).stdout);
    socketPath = out.socket;
    dockerHost = `unix://${socketPath}`;
    expect(existsSync(socketPath)).toBe(true);
  }, 320_000);

  it('builds a busybox httpd image FROM scratch', async () => {
    const ctx = path.join(root, 'ctx');
    mkdirSync(path.join(ctx, 'www'), { recursive: true });
    copyFileSync(BUSYBOX, path.join(ctx, 'busybox'));
    // busybox's nc has no -u: the UDP echo server is a static binary built here.
    writeFileSync(path.join(root, 'udpecho.c'), UDP_ECHO_C);
    execFileSync('gcc', ['-static', '-O2', '-o', path.join(ctx, 'udpecho'), path.join(root, 'udpecho.c')]);
    writeFileSync(path.join(ctx, 'www', 'index.html'), 'hello from skiff\n');
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY udpecho /bin/udpecho\nCOPY www /www\n');
    const r = await docker(dockerHost, ['build', '-q', '-t', 'skiff-e2e/httpd:1', ctx], { env: { DOCKER_BUILDKIT: '0' } });
    expect(r.code, r.stderr).toBe(0);
  }, 180_000);

  it('a port published with docker run -p answers on the host 127.0.0.1', async () => {
    const r = await docker(dockerHost, ['run', '-d', '--name', 'web', '-p', `${PORT}:80`, 'skiff-e2e/httpd:1', '/bin/busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    expect(r.code, r.stderr).toBe(0);
    const page = await served(PORT, 60_000);
    console.log(`page served ${page.ms} ms after docker run returned`);
    expect(page.value).toBe('hello from skiff\n');
  }, 240_000);

  it('skiff status lists the port, as text and JSON', async () => {
    // The agent writes its state file just after opening the port: give it a moment.
    const { value: s } = await until('status to list the port', async () => {
      const st = JSON.parse((await run(['status', '--json'])).stdout);
      return st.ports?.length ? st : undefined;
    }, 10_000);
    expect(s.ports).toEqual([expect.objectContaining({ port: PORT, proto: 'tcp', name: 'web', state: 'forwarded' })]);
    expect((await run(['status'])).stdout).toMatch(new RegExp(`Ports: +127\\.0\\.0\\.1:${PORT}/tcp -> web`));
  });

  it('the port answers on [::1] too: curl -g and Node fetch of localhost', async () => {
    const curlV6 = () => execFileSync('curl', ['-sS', '-g', `http://[::1]:${PORT}/`], { encoding: 'utf8' });
    // A host without an IPv6 loopback has nothing to listen on there.
    if (!hasIpv6Loopback()) return expect(curlV6).toThrow();
    const curl = curlV6();
    expect(curl).toBe('hello from skiff\n');
    // Node 17+ tries ::1 first for localhost.
    const res = await fetch(`http://localhost:${PORT}/`);
    expect(await res.text()).toBe('hello from skiff\n');
  }, 30_000);

  it('a published UDP port answers several clients at once, each its own replies, on 127.0.0.1 and [::1]', async () => {
    const r = await docker(dockerHost, ['run', '-d', '--name', 'udpecho', '-p', `${UDP_PORT}:7/udp`, 'skiff-e2e/httpd:1', '/bin/udpecho', '7']);
    expect(r.code, r.stderr).toBe(0);
    const first = await until('the UDP echo to answer', async () => ((await askUdp(UDP_PORT, 'ping', '127.0.0.1', 1_000)) === 'echo:ping' ? true : undefined), 60_000);
    console.log(`udp answered ${first.ms} ms after docker run returned`);
    const hosts = hasIpv6Loopback() ? ['127.0.0.1', '::1'] : ['127.0.0.1'];
    for (let round = 0; round < 3; round++) {
      const asks = Array.from({ length: 6 }, (_, i) => ({ host: hosts[i % hosts.length]!, text: `r${round}-c${i}` }));
      const replies = await Promise.all(asks.map(({ host, text }) => askUdp(UDP_PORT, text, host, 5_000)));
      expect(replies).toEqual(asks.map(({ text }) => `echo:${text}`));
    }
    const st = JSON.parse((await run(['status', '--json'])).stdout);
    expect(st.ports).toContainEqual(expect.objectContaining({ port: UDP_PORT, proto: 'udp', name: 'udpecho', state: 'forwarded' }));
  }, 120_000);

  it('a UDP port taken on the host is shown as a conflict in skiff status', async () => {
    const taken = dgram.createSocket('udp4');
    await new Promise<void>((r) => taken.bind(UDP_BUSY, '127.0.0.1', r));
    try {
      const r = await docker(dockerHost, ['run', '-d', '--name', 'udpbusy', '-p', `${UDP_BUSY}:7/udp`, 'skiff-e2e/httpd:1', '/bin/udpecho', '7']);
      expect(r.code, r.stderr).toBe(0);
      await until('the conflict in status', async () => {
        const st = JSON.parse((await run(['status', '--json'])).stdout);
        return st.ports?.find((p: { port: number; proto: string; state: string }) => p.port === UDP_BUSY && p.proto === 'udp' && p.state === 'conflict');
      }, 30_000);
      expect((await run(['status'])).stdout).toMatch(new RegExp(`127\\.0\\.0\\.1:${UDP_BUSY}/udp -> udpbusy NOT FORWARDED`));
    } finally {
      taken.close();
    }
  }, 120_000);

  it('docker stop closes the UDP port', async () => {
    const r = await docker(dockerHost, ['stop', '-t', '1', 'udpecho']);
    expect(r.code, r.stderr).toBe(0);
    const closed = await until('the UDP port to refuse', async () => ((await askUdp(UDP_PORT, 'gone', '127.0.0.1', 1_000)) === 'ECONNREFUSED' ? true : undefined), 15_000);
    console.log(`udp port refused ${closed.ms} ms after docker stop returned`);
    if (hasIpv6Loopback()) expect(await askUdp(UDP_PORT, 'gone', '::1', 1_000)).toBe('ECONNREFUSED');
  }, 60_000);

  it('docker stop closes the port', async () => {
    const r = await docker(dockerHost, ['stop', '-t', '1', 'web']);
    expect(r.code, r.stderr).toBe(0);
    const closed = await refused(PORT, 15_000);
    console.log(`port refused ${closed.ms} ms after docker stop returned`);
    expect(closed.value).toBe(true);
  }, 120_000);

  it('a container running while the agent restarts gets its port back', async () => {
    const r = await docker(dockerHost, ['run', '-d', '--name', 'late', '-p', `${LATE_PORT}:80`, 'skiff-e2e/httpd:1', '/bin/busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    expect(r.code, r.stderr).toBe(0);
    await served(LATE_PORT, 60_000);
    const pid = Number(readFileSync(path.join(path.dirname(socketPath), 'agent.pid'), 'utf8').trim());
    process.kill(pid, 'SIGKILL');
    await refused(LATE_PORT, 15_000);
    await run(['start', '--json'], 120_000);
    const page = await served(LATE_PORT, 60_000);
    console.log(`port back ${page.ms} ms after skiff start returned`);
    expect(page.value).toBe('hello from skiff\n');
  }, 300_000);
});
