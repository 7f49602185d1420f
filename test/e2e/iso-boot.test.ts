import { execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSeed } from '../../src/guest/seed.js';
import { generateEd25519 } from '../../src/ssh/keys.js';
import { docker } from '../helpers/docker.js';
import { extractBootFiles, IsoVm, makeDataDisk, type BootFiles } from '../helpers/iso-vm.js';
import { forwardSocket, ssh, sshOptions } from '../helpers/iso-ssh.js';
import { BUILT_ISO, requireArtifacts, STATIC_BUSYBOX } from '../helpers/e2e.js';

/**
 * issue 10: the built guest image, booted in QEMU (TCG) the way the host's
 * driver boots it, with a seeded data disk. Two boots in all: the first formats
 * the disk from the seed, the second must find it by label with the data kept.
 */
const ISO = BUILT_ISO;
const BUSYBOX = STATIC_BUSYBOX; // a container image without a registry
const BOOT_TIMEOUT = 240_000;

const dir = mkdtempSync(path.join(os.tmpdir(), 'skiff-iso-'));
const userKey = generateEd25519('skiff-iso-test');
const hostKey = generateEd25519('skiff-iso-host');
const keyFile = path.join(dir, 'id_ed25519');
const knownHosts = path.join(dir, 'known_hosts');
const disk = path.join(dir, 'data.qcow2');
const token = randomBytes(8).toString('hex');
let boot: BootFiles;
let vm: IsoVm | undefined;
let forward: ChildProcess | undefined;
// A web server on the host's loopback: QEMU's user network shows it to the guest as 10.0.2.2.
const hostWeb = http.createServer((_req, res) => res.end(`host ${token}\n`));

function pinHostKey(port: number): string[] {
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKey.public}`);
  return [...sshOptions(knownHosts, port), '-i', keyFile, '-o', 'IdentitiesOnly=yes'];
}

async function bootVm(): Promise<{ vm: IsoVm; opts: string[] }> {
  // A previous boot that failed midway still holds the disk: end it first.
  await vm?.kill();
  const v = new IsoVm(dir, ISO, boot, disk);
  vm = v;
  rmSync(v.consoleLog, { force: true });
  await v.start();
  await v.waitReady(BOOT_TIMEOUT);
  return { vm: v, opts: pinHostKey(v.sshPort) };
}

async function must(opts: string[], cmd: string): Promise<string> {
  const r = await ssh(opts, cmd);
  if (r.code !== 0) throw new Error(`ssh ${cmd} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function withDocker<T>(opts: string[], fn: (host: string) => Promise<T>): Promise<T> {
  const sock = path.join(dir, 'docker.sock');
  forward = await forwardSocket(opts, sock, '/var/run/docker.sock');
  try {
    return await fn(`unix://${sock}`);
  } finally {
    forward.kill();
    forward = undefined;
  }
}

beforeAll(async () => {
  requireArtifacts();
  writeFileSync(keyFile, userKey.private, { mode: 0o600 });
  boot = await extractBootFiles(ISO, dir);
  const seed = path.join(dir, 'seed.raw');
  await writeSeed(seed, {
    authorizedKeys: userKey.public,
    hostKeyPrivate: hostKey.private,
    hostKeyPublic: hostKey.public,
    settings: { SKIFF_HOSTNAME: 'isotest' },
  });
  await makeDataDisk(seed, disk, 4);
  // A one-file image: busybox and a page for httpd.
  const img = path.join(dir, 'img');
  mkdirSync(path.join(img, 'www'), { recursive: true });
  copyFileSync(BUSYBOX, path.join(img, 'busybox'));
  writeFileSync(path.join(img, 'www', 'index.html'), `hello ${token}\n`);
  execFileSync('tar', ['-cf', path.join(dir, 'img.tar'), '-C', img, '.']);
  await new Promise<void>((resolve) => hostWeb.listen(0, '127.0.0.1', resolve));
}, 60_000);

afterAll(async () => {
  hostWeb.close();
  forward?.kill();
  await vm?.kill();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('skiff guest ISO', () => {
  it('ships the boot files and the command line the host needs', () => {
    expect(boot.cmdline).toContain('console=ttyS0');
    expect(boot.version).toMatch(/^skiff-guest \S+ docker 26\.1\.\d+ kernel 6\.12\.\d+$/);
  });

  it('first boot: seeded disk formatted, pinned host key, keys only, engine over ssh -L', async () => {
    const { vm: v, opts } = await bootVm();
    const m = v.markers();
    for (const s of ['init', 'modules', 'network', 'disk', 'sshd', 'dockerd']) expect(m.stages.has(s), s).toBe(true);
    expect(m.errors).toEqual([]);

    // StrictHostKeyChecking=yes against the seeded key: any other host key fails here.
    expect((await must(opts, 'hostname')).trim()).toBe('isotest');
    expect(await must(opts, 'echo $0; echo $PATH')).toMatch(/sh\n.*\/usr\/sbin/);

    const pw = await ssh([...sshOptions(knownHosts, v.sshPort), '-o', 'PubkeyAuthentication=no',
      '-o', 'PreferredAuthentications=password,keyboard-interactive'], 'true');
    expect(pw.code).toBe(255);
    expect(pw.stderr).toContain('Permission denied (publickey)');

    const mount = await must(opts, "grep ' /mnt/data ' /proc/mounts");
    expect(mount).toMatch(/^\/dev\/vd[a-z] \/mnt\/data ext4 rw/);
    expect(await must(opts, "grep -c ' /var/lib/docker ' /proc/mounts")).toBe('1\n');
    const uuid = await must(opts, '/usr/sbin/tune2fs -l $(cat /run/skiff/data-device) | grep UUID');
    await must(opts, `echo ${token} > /mnt/data/token; echo '${uuid.trim()}' > /mnt/data/uuid; sync`);
    expect(await must(opts, 'head -c 13 $(cat /run/skiff/data-device) | od -c | head -n 1')).not.toContain('s   k   i   f   f');

    await withDocker(opts, async (host) => {
      const info = await docker(host, ['info', '--format', '{{.ServerVersion}} {{.Driver}} {{.OperatingSystem}}']);
      expect(info.code, info.stderr).toBe(0);
      expect(info.stdout).toMatch(/^26\.1\.\d+\S* overlay2 /);
      const imp = await docker(host, ['import', path.join(dir, 'img.tar'), 'skiff-bb:1']);
      expect(imp.code, imp.stderr).toBe(0);
      const run = await docker(host, ['run', '--rm', 'skiff-bb:1', '/busybox', 'echo', `ran ${token}`]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout.trim()).toBe(`ran ${token}`);
      const web = await docker(host, ['run', '-d', '--name', 'web', '-p', '8080:80', 'skiff-bb:1',
        '/busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
      expect(web.code, web.stderr).toBe(0);
      // Published port, from inside the guest (the host side forwards it later over SSH).
      const page = await must(opts, 'for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8080/ && exit 0; sleep 1; done; exit 1');
      expect(page.trim()).toBe(`hello ${token}`);

      // Outbound from a container, NATed through the guest's uplink to the host's loopback.
      const port = (hostWeb.address() as AddressInfo).port;
      const out = await docker(host, ['run', '--rm', 'skiff-bb:1', '/busybox', 'wget', '-qO-', `http://10.0.2.2:${port}/`]);
      expect(out.code, out.stderr).toBe(0);
      expect(out.stdout.trim()).toBe(`host ${token}`);

      // A user-defined network: containers find each other by name (the engine's embedded DNS).
      expect((await docker(host, ['network', 'create', 'skiffnet'])).code).toBe(0);
      const srv = await docker(host, ['run', '-d', '--network', 'skiffnet', '--name', 'srv', 'skiff-bb:1',
        '/busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
      expect(srv.code, srv.stderr).toBe(0);
      const byName = await docker(host, ['run', '--rm', '--network', 'skiffnet', 'skiff-bb:1', '/busybox', 'wget', '-qO-', 'http://srv/']);
      expect(byName.code, byName.stderr).toBe(0);
      expect(byName.stdout.trim()).toBe(`hello ${token}`);
    });

    // The power button stops the engine, unmounts the disk and powers off.
    const code = await v.acpiShutdown(90_000);
    expect(code).toBe(0);
    expect(v.markers().poweroff).toBeDefined();
  }, BOOT_TIMEOUT + 300_000);

  it('second boot: the disk is found by label, not re-formatted, and keeps its data', async () => {
    const { vm: v, opts } = await bootVm();
    expect(v.markers().errors).toEqual([]);
    expect((await must(opts, 'cat /mnt/data/token')).trim()).toBe(token);
    const uuid = await must(opts, '/usr/sbin/tune2fs -l $(cat /run/skiff/data-device) | grep UUID');
    expect(uuid.trim()).toBe((await must(opts, 'cat /mnt/data/uuid')).trim());
    expect(await must(opts, 'cat /var/log/skiff.log')).toMatch(/data disk \/dev\/vd[a-z] \(label\) mounted/);

    await withDocker(opts, async (host) => {
      const images = await docker(host, ['images', '--format', '{{.Repository}}:{{.Tag}}']);
      expect(images.code, images.stderr).toBe(0);
      expect(images.stdout).toContain('skiff-bb:1');
      const run = await docker(host, ['run', '--rm', 'skiff-bb:1', '/busybox', 'cat', '/www/index.html']);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout.trim()).toBe(`hello ${token}`);
    });

    expect(await v.acpiShutdown(90_000)).toBe(0);
  }, BOOT_TIMEOUT + 300_000);
});
