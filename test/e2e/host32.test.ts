import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker } from '../helpers/docker.js';
import { TestHttpServer } from '../helpers/http-server.js';
import { buildRoot, chrootProcesses, down, elfOf, EM_386, EM_X86_64, i386Exec, inRoot, up, type Session } from '../host32/session.js';
import { BUILT_ISO, requireArtifacts } from '../helpers/e2e.js';

/**
 * issue 12: skiff is pure JavaScript, so it runs on a 32-bit x86 userland with
 * that userland's own Node and QEMU. Each suite builds (or reuses from
 * /var/cache/skiff-host32) a Debian i386 root with debootstrap, installs skiff
 * into it from `npm pack` with no install scripts, and runs skiff there with the
 * i386 Node and QEMU; the host's docker CLI talks to the machine through a socket
 * dir bind-mounted at the same path inside and outside the root.
 *
 * Debian 12 i386 (Node 18, QEMU 7.2) runs the whole path: an amd64 guest under TCG,
 * as a 32-bit OS on a 64-bit CPU would. Debian 13 i386 has Node 20, but its QEMU
 * (10.0) no longer builds qemu-system-x86_64 for 32-bit hosts: there skiff must
 * run (version, ssh2, shellinit) and `init` must refuse with a clear message.
 * Needs root (debootstrap, mount, chroot).
 */
const ISO = BUILT_ISO;
const LOOPBACK = path.resolve('test/host32/ssh2-loopback.cjs');
const SHELLS = ['bash', 'zsh', 'sh', 'fish', 'powershell', 'cmd', 'tcsh', 'nu'];
/**
 * How this machine runs the roots' i386 binaries. Where the kernel refuses them,
 * .ci/setup registered Debian 13's qemu-i386 (test/host32/i386-exec.sh): the
 * roots' Node, skiff and its agent run under user-mode emulation, and the
 * session runs the host's own QEMU (test/host32/session.sh says why).
 */
const I386 = i386Exec();
// an amd64 guest under TCG from a 32-bit QEMU
const BOOT_TIMEOUT_S = 900;

/** The guest's serial console, for failure messages: a 64-bit guest under a 32-bit TCG may oops. */
function consoleTail(s: Session): string {
  try {
    return readFileSync(path.join(s.merged, 'root/.skiff/machines/default/console.log'), 'utf8').split('\n').slice(-40).join('\n');
  } catch {
    return '(no console log)';
  }
}

function preconditions(): void {
  if (process.getuid?.() !== 0) throw new Error('the i386 host test needs root (debootstrap, mount, chroot); CI runs as root');
  requireArtifacts({ iso: true });
}

/** What every i386 root must show before QEMU comes into it. */
function commonChecks(get: () => Session, node: RegExp) {
  it('runs the root’s own i386 Node', async () => {
    const s = get();
    const r = await inRoot(s, ['node', '-p', 'process.arch + " " + process.versions.node']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(new RegExp(`^ia32 ${node.source}`));
    expect(elfOf(path.join(s.merged, 'usr/bin/node'))).toEqual({ bits: 32, machine: EM_386 });
  });

  it('installed skiff from the npm pack tarball: bin, dist and package.json, no tests, nothing native', () => {
    const s = get();
    const files = execFileSync('tar', ['-tzf', s.tarball], { encoding: 'utf8' }).trim().split('\n');
    expect(files).toEqual(expect.arrayContaining(['package/package.json', 'package/bin/skiff.js', 'package/dist/cli/main.js']));
    expect(files.filter((f) => /^package\/(test|src|bench)\/|\.test\.|\.ts$/.test(f))).toEqual([]);
    const tree = path.join(s.merged, 'opt/skiff/node_modules');
    const all = readdirSync(tree, { recursive: true, encoding: 'utf8' });
    expect(all.filter((f) => f.endsWith('.node'))).toEqual([]);
    expect(all).toContain(path.join('ssh2', 'package.json'));
    expect(existsSync(path.join(tree, 'ssh2/lib/protocol/crypto/build'))).toBe(false);
  });

  it('ssh2 works on the i386 Node without its native binding', async () => {
    const s = get();
    copyFileSync(LOOPBACK, path.join(s.merged, 'opt/skiff/ssh2-loopback.cjs'));
    const r = await inRoot(s, ['sh', '-c', 'cd /opt/skiff && node ssh2-loopback.cjs']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { arch: string; bindingAvailable: boolean; results: Array<{ code: number; uploadOk: boolean; downloadOk: boolean }> };
    expect(out.arch).toBe('ia32');
    expect(out.bindingAvailable).toBe(false);
    expect(out.results).toHaveLength(3);
    for (const res of out.results) expect(res).toMatchObject({ code: 0, uploadOk: true, downloadOk: true });
  }, 120_000);

  it('skiff version reports the i386 Node', async () => {
    const r = await inRoot(get(), ['skiff', 'version', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ skiff: expect.stringMatching(/^\d+\.\d+\.\d+/), platform: 'linux', arch: 'ia32', node: expect.stringMatching(node) });
  });
}

function shellinitChecks(get: () => Session) {
  it('shellinit prints the machine’s socket for every shell', async () => {
    const s = get();
    for (const shell of SHELLS) {
      const r = await inRoot(s, ['skiff', 'shellinit', '--shell', shell]);
      expect(r.code, `${shell}: ${r.stderr}`).toBe(0);
      expect(r.stdout, shell).toContain('DOCKER_HOST');
      expect(r.stdout, shell).toContain(`${s.runtimeDir}/`);
    }
  }, 120_000); // eight Node starts, each seconds long where i386 is emulated
}

describe('Debian 12 i386 (Node 18, QEMU 7.2): the whole path with an amd64 guest', () => {
  let s: Session | undefined;
  const http = new TestHttpServer();
  let iso = Buffer.alloc(0);
  let socket = '';

  beforeAll(async () => {
    preconditions();
    const built = await buildRoot('bookworm');
    console.log(`bookworm i386 root: ${built.cached ? 'cached' : 'built'} in ${built.seconds.toFixed(1)} s (${built.root})`);
    s = await up(built.root);
    console.log(`i386 binaries on this machine: ${I386}; the session runs the ${s.qemu === 'root' ? 'root’s i386' : 'host’s'} qemu-system-x86_64`);
    await http.start();
    iso = readFileSync(ISO); // one read: CI may rebuild the file meanwhile
    http.set('/skiff-amd64.iso', iso);
  }, 35 * 60_000);

  afterAll(async () => {
    await http.close();
    if (s) await down(s); // throws if a mount or process stays behind
  }, 6 * 60_000);

  const get = () => {
    if (!s) throw new Error('no session');
    return s;
  };
  commonChecks(get, /18\./);

  it('init downloads the ISO over HTTP (got on Node 18) and checks it', async () => {
    const sum = createHash('sha256').update(iso).digest('hex');
    // 1 GiB: a 32-bit QEMU simulates at most 2047 MB of guest RAM
    const r = await inRoot(get(), ['skiff', 'init', '--iso', http.url('/skiff-amd64.iso'), '--checksum', `sha256:${sum}`, '--memory', '1G', '--json'], 300_000);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'default', driver: 'qemu', arch: 'x86_64', memoryMiB: 1024 });
    expect(http.requestsFor('/skiff-amd64.iso').some((q) => q.status === 200 || q.status === 206)).toBe(true);
  }, 320_000);

  shellinitChecks(get);

  it('start boots the amd64 guest under TCG, with the root’s i386 QEMU (the host’s where i386 is emulated)', async () => {
    const t0 = Date.now();
    const r = await inRoot(get(), ['skiff', 'start', '--json', '--timings', '--timeout', String(BOOT_TIMEOUT_S)], (BOOT_TIMEOUT_S + 60) * 1000);
    const wall = (Date.now() - t0) / 1000;
    expect(r.code, `${r.stdout}${r.stderr}\nconsole:\n${consoleTail(get())}`).toBe(0);
    const out = JSON.parse(r.stdout) as { socket: string; alreadyRunning: boolean; timings: unknown };
    console.log(`i386 start: ${wall.toFixed(1)} s wall, timings ${JSON.stringify(out.timings)}`);
    expect(out.alreadyRunning).toBe(false);
    expect(out.socket.startsWith(`${get().runtimeDir}/`)).toBe(true);
    expect(statSync(out.socket).isSocket()).toBe(true);
    socket = out.socket;

    const qemu = chrootProcesses(get().merged).filter((p) => p.argv.slice(0, 4).some((a) => path.basename(a) === 'qemu-system-x86_64'));
    expect(qemu).toHaveLength(1);
    if (get().qemu === 'root') {
      expect(elfOf(qemu[0]!.program)).toEqual({ bits: 32, machine: EM_386 });
    } else {
      // i386 is emulated on this machine: the session runs the host's QEMU (session.sh says why)
      expect(qemu[0]!.argv).toContain('/opt/host-qemu/qemu-system-x86_64');
      expect(elfOf(path.join(get().merged, 'opt/host-qemu/qemu-system-x86_64'))).toEqual({ bits: 64, machine: EM_X86_64 });
    }
    const st = await inRoot(get(), ['skiff', 'status', '--json']);
    expect(JSON.parse(st.stdout)).toMatchObject({ state: 'running', accelerator: 'tcg' });
  }, (BOOT_TIMEOUT_S + 120) * 1000);

  it('the host’s docker CLI reaches the amd64 engine through the socket', async () => {
    const r = await docker(`unix://${socket}`, ['version', '--format', '{{.Server.Version}} {{.Server.Os}} {{.Server.Arch}}']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim(), `console:\n${consoleTail(get())}`).toMatch(/^\d+\.\d+\.\d+\S* linux amd64$/);
  }, 200_000);

  it('stop shuts the guest down and leaves no QEMU and no socket behind', async () => {
    const r = await inRoot(get(), ['skiff', 'stop', '--json'], 300_000);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ stopped: true, wasRunning: true });
    expect(existsSync(socket)).toBe(false);
    expect(chrootProcesses(get().merged).filter((p) => /qemu-system/.test(p.program))).toEqual([]);
  }, 320_000);
});

describe('Debian 13 i386 (Node 20, QEMU 10): skiff runs, and refuses clearly to create a machine without qemu-system-x86_64', () => {
  let s: Session | undefined;

  beforeAll(async () => {
    preconditions();
    const built = await buildRoot('trixie');
    console.log(`trixie i386 root: ${built.cached ? 'cached' : 'built'} in ${built.seconds.toFixed(1)} s (${built.root})`);
    s = await up(built.root, ISO);
  }, 35 * 60_000);

  afterAll(async () => {
    if (s) await down(s);
  }, 6 * 60_000);

  const get = () => {
    if (!s) throw new Error('no session');
    return s;
  };
  commonChecks(get, /20\./);

  it('init refuses at once: qemu-system-x86_64 is missing (QEMU 10 builds none for 32-bit hosts); nothing is created', async () => {
    const s = get();
    expect(existsSync(path.join(s.merged, 'usr/bin/qemu-system-i386'))).toBe(true);
    expect(existsSync(path.join(s.merged, 'usr/bin/qemu-system-x86_64'))).toBe(false);
    const r = await inRoot(s, ['skiff', 'init', '--iso', s.iso!, '--json'], 300_000);
    expect(r.code, r.stdout + r.stderr).toBe(5); // ExitCode.environment
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'qemu-missing', message: expect.stringMatching(/qemu-system-x86_64/) } });
    const l = await inRoot(s, ['skiff', 'list', '--json']);
    expect(l.code, l.stderr).toBe(0);
    expect(JSON.parse(l.stdout)).toEqual([]);
    expect(chrootProcesses(s.merged)).toEqual([]);
  }, 320_000);

  it('shellinit, for every shell, says there is no machine (exit 3)', async () => {
    for (const shell of SHELLS) {
      const r = await inRoot(get(), ['skiff', 'shellinit', '--shell', shell]);
      expect(r.code, shell).toBe(3); // ExitCode.notFound
      expect(r.stderr, shell).toMatch(/machine "default" does not exist/);
    }
  }, 120_000);
});
