import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, readSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { skiff } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { BUILT_ISO, BUSYBOX_ROOTFS_AMD64, removeSuiteMachine, requireArtifacts, skiffOk, suiteEnv } from '../helpers/e2e.js';
import { INOTIFY_WATCH_C } from '../helpers/inotify.js';
import { until } from '../helpers/agent-fixture.js';

/**
 * issue 23 (shares): with the real ISO under QEMU, shared folders whose paths hold
 * spaces, quotes, colons and non-ASCII are mounted at their exact paths, given with
 * `--share` and its `\:` escape; names, symlinks (inside the share and pointing out
 * of it) and a file over 4 GiB come through both ways; a read-only share refuses
 * writes; a container bind-mounts such a path, and an inotify watcher in it sees
 * an edit made on the host (item 3). One boot serves every check.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-e2e-shares-'));
// Like a home directory "/home/Jane Doe.t", with every awkward character at once.
const HOME_SHARE = path.join(root, `Jane Doe.t 'q' "d" c:lon ü`);
const RO_HOST = path.join(root, 'ro: data');
const RO_GUEST = '/data/ro: ü';
const OUTSIDE = path.join(root, 'outside', 'secret');
const NAME = 'ü-ñame 日本 $x.txt';
const GiB = 1024 ** 3;
const BIG_SIZE = 5 * GiB;
const HOST_MARK_AT = 4.5 * GiB;
const GUEST_MARK_AT = 4.5 * GiB + 1024 * 1024;

const env = suiteEnv(root, 'e2s');
const run = (args: string[], timeoutMs?: number) => skiffOk(env, args, timeoutMs);
let dockerHost = '';

/** Runs a script in the guest with the given arguments as "$1", "$2", ... (quoted by `skiff ssh`). */
async function inGuest(script: string, ...args: string[]) {
  return skiff(['ssh', '--', 'sh', '-c', script, 'sh', ...args], env, 120_000);
}

/** The tags of the guest's mounts of this file system, then "mounted" for each share path that is a mount point. */
async function mountsOf(fs: string): Promise<string> {
  const r = await inGuest(
    'awk -v fs="$1" \'$3 == fs { print $1 }\' /proc/mounts | sort; for p in "$2" "$3"; do [ "$(stat -c %d "$p")" != "$(stat -c %d "$p/..")" ] && echo mounted; done',
    fs,
    HOME_SHARE,
    RO_GUEST,
  );
  return r.stdout;
}

/** Live virtiofsd processes serving this suite's machine (their sockets are in its runtime dir). */
function virtiofsds(): string[] {
  const out = execFileSync('ps', ['-eo', 'stat=,args=']).toString().split('\n');
  return out.filter((l) => !l.startsWith('Z') && l.includes('virtiofsd --socket-path=') && l.includes(env.SKIFF_RUNTIME_DIR!)).filter((l, i, a) => a.findIndex((x) => x.split('--socket-path=')[1] === l.split('--socket-path=')[1]) === i);
}

/** The host rewrites `file` with `text`; the guest reads exactly that within 10 s. */
async function expectHostRewriteSeen(file: string, text: string): Promise<void> {
  writeFileSync(file, text);
  const seen = await until('the guest to read the host edit', async () => {
    const out = (await inGuest('cat "$1"', file)).stdout;
    return out === text ? out : undefined;
  }, 10_000);
  expect(seen).toBe(text);
}

const escapeFlag = (p: string) => p.replaceAll('\\', '\\\\').replaceAll(':', '\\:');

function readAt(file: string, offset: number, length: number): string {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b.toString();
  } finally {
    closeSync(fd);
  }
}

beforeAll(() => {
  requireArtifacts();
  if (!existsSync(BUSYBOX_ROOTFS_AMD64)) throw new Error(`${BUSYBOX_ROOTFS_AMD64} is missing: build it with \`npm run iso\``);
  mkdirSync(path.join(HOME_SHARE, 'sub'), { recursive: true });
  // A static inotify watcher the container runs from the share (no image build needed).
  mkdirSync(path.join(HOME_SHARE, 'tools'));
  writeFileSync(path.join(root, 'inotify-watch.c'), INOTIFY_WATCH_C);
  execFileSync('gcc', ['-static', '-O2', '-o', path.join(HOME_SHARE, 'tools', 'inotify-watch'), path.join(root, 'inotify-watch.c')]);
  mkdirSync(path.dirname(OUTSIDE), { recursive: true });
  mkdirSync(RO_HOST);
  writeFileSync(path.join(HOME_SHARE, NAME), 'hello ü\n');
  writeFileSync(path.join(HOME_SHARE, 'sub', 'file'), 'inner\n');
  writeFileSync(OUTSIDE, 'host-secret\n');
  writeFileSync(path.join(RO_HOST, 'r.txt'), 'read me\n');
  symlinkSync('sub/file', path.join(HOME_SHARE, 'link-in'));
  symlinkSync(OUTSIDE, path.join(HOME_SHARE, 'link-out'));
  // Sparse: 5 GiB long, a few KiB on disk.
  const big = path.join(HOME_SHARE, 'big');
  writeFileSync(big, '');
  truncateSync(big, BIG_SIZE);
  const fd = openSync(big, 'r+');
  writeSync(fd, 'HOST-MARK', HOST_MARK_AT);
  closeSync(fd);
});

afterAll(async () => {
  await removeSuiteMachine(env, [root, env.SKIFF_RUNTIME_DIR!]);
}, 240_000);

describe('shared folders with awkward paths and big files', () => {
  it('boots a machine sharing paths with spaces, quotes, colons and non-ASCII', async () => {
    await run(['init', '--iso', BUILT_ISO, '--share', escapeFlag(HOME_SHARE), '--share', `${escapeFlag(RO_HOST)}:${escapeFlag(RO_GUEST)}:ro`, '--json']);
    const config = readFileSync(path.join(env.SKIFF_HOME!, 'machines', 'default', 'config.yaml'), 'utf8');
    expect(config).toContain('c:lon');
    const out = JSON.parse((await run(['start', '--json'], 300_000)).stdout);
    expect(out.sharesNotMounted).toEqual([]);
    dockerHost = `unix://${out.socket}`;
    // Two 9p mounts (the default), and these exact paths are mount points.
    expect(await mountsOf('9p')).toBe('share0\nshare1\nmounted\nmounted\n');
    expect(virtiofsds()).toEqual([]);
    // status says which file system carries each share.
    const st = JSON.parse((await run(['status', '--json'])).stdout);
    expect(st.shares.map((x: { guestPath: string; fs: string }) => [x.guestPath, x.fs])).toEqual([
      [HOME_SHARE, '9p'],
      [RO_GUEST, '9p'],
    ]);
    expect((await run(['status'])).stdout).toContain(`Shares:   ${HOME_SHARE} (9p trans=virtio`);
    // The msize status shows is the one the guest kernel mounted with (it silently lowers one it cannot take).
    const msize = /msize=(\d+)/.exec(st.shares[0].options)![1];
    const mounts = await inGuest('awk \'$3 == "9p" { print $4 }\' /proc/mounts');
    expect(mounts.stdout.trim().split('\n').map((o) => /msize=(\d+)/.exec(o)?.[1])).toEqual([msize, msize]);
  }, 320_000);

  it('shows a host edit to the guest at its next read (no stale cache)', async () => {
    const f = path.join(HOME_SHARE, 'sub', 'coherent');
    writeFileSync(f, 'first\n');
    expect((await inGuest('cat "$1"', f)).stdout).toBe('first\n');
    await expectHostRewriteSeen(f, 'second, longer\n');
  });

  it('carries non-ASCII file names both ways', async () => {
    const r = await inGuest('cat "$1/$2" && printf made >"$1/made in guest ✓ ü.txt"', HOME_SHARE, NAME);
    expect(r.stdout).toBe('hello ü\n');
    expect(readFileSync(path.join(HOME_SHARE, 'made in guest ✓ ü.txt'), 'utf8')).toBe('made');
    // A file the guest's root made belongs to the host user that runs skiff.
    expect(lstatSync(path.join(HOME_SHARE, 'made in guest ✓ ü.txt')).uid).toBe(process.getuid!());
  });

  it('follows a symlink inside the share, and keeps one pointing out of it as a link, never to host files', async () => {
    const r = await inGuest('cat "$1/link-in"; readlink "$1/link-out"; cat "$1/link-out" 2>/dev/null; ln -s sub/file "$1/glink"; echo done', HOME_SHARE);
    expect(r.stdout).toBe(`inner\n${OUTSIDE}\ndone\n`);
    expect(lstatSync(path.join(HOME_SHARE, 'glink')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(path.join(HOME_SHARE, 'glink'))).toBe('sub/file');
  });

  it('reads and writes a file over 4 GiB past the 4 GiB mark', async () => {
    const r = await inGuest(
      'stat -c %s "$1/big"; dd if="$1/big" bs=4096 skip=$2 count=1 2>/dev/null | head -c 9; echo; printf GUEST-MARK | dd of="$1/big" bs=4096 seek=$3 conv=notrunc 2>/dev/null && echo written',
      HOME_SHARE,
      String(HOST_MARK_AT / 4096),
      String(GUEST_MARK_AT / 4096),
    );
    expect(r.stdout).toBe(`${BIG_SIZE}\nHOST-MARK\nwritten\n`);
    expect(readAt(path.join(HOME_SHARE, 'big'), GUEST_MARK_AT, 10)).toBe('GUEST-MARK');
    expect(lstatSync(path.join(HOME_SHARE, 'big')).size).toBe(BIG_SIZE);
  });

  it('mounts a read-only share at a guest path with a colon, and refuses writes to it', async () => {
    const r = await inGuest('cat "$1/r.txt"; echo x >"$1/w" 2>/dev/null && echo wrote', RO_GUEST);
    expect(r.stdout).toBe('read me\n');
    expect(existsSync(path.join(RO_HOST, 'w'))).toBe(false);
  });

  it("lets a container bind-mount the share's path (docker --mount, quoted)", async () => {
    expect((await docker(dockerHost, ['import', BUSYBOX_ROOTFS_AMD64, 'skiff-bb:shares'])).code).toBe(0);
    // --mount is CSV: the src field is quoted, its double quotes doubled.
    const src = `"src=${HOME_SHARE.replaceAll('"', '""')}"`;
    const r = await docker(dockerHost, ['run', '--rm', '--mount', `type=bind,${src},dst=/w`, 'skiff-bb:shares', 'cat', `/w/${NAME}`, '/w/link-in']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hello ü\ninner\n');
  }, 180_000);

  it('an edit made on the host reaches an inotify watcher in a container bind-mounting the share; status says so', async () => {
    const csv = (p: string) => `"src=${p.replaceAll('"', '""')}"`;
    const watched = path.join(HOME_SHARE, 'sub');
    const run1 = await docker(dockerHost, [
      'run', '-d', '--name', 'watcher',
      '--mount', `type=bind,${csv(watched)},dst=/w`,
      '--mount', `type=bind,${csv(path.join(HOME_SHARE, 'tools'))},dst=/tools,readonly`,
      'skiff-bb:shares', '/tools/inotify-watch', '/w',
    ]);
    expect(run1.code, run1.stderr).toBe(0);
    // The agent follows the container's start and watches what it bind-mounts from the share.
    const st = await until('status to show the bind-mounted folders watched', async () => {
      const s = JSON.parse((await run(['status', '--json'])).stdout);
      return s.shares[0].watch.folders?.length === 2 ? s : undefined;
    }, 60_000);
    expect(st.shares[0].watch).toMatchObject({ state: 'on', folders: [path.join(HOME_SHARE, 'sub'), path.join(HOME_SHARE, 'tools')] });
    expect(st.shares[1].watch).toEqual({ state: 'read-only' });
    const text = (await run(['status'])).stdout;
    expect(text).toContain('watch: on (2 folders bind-mounted');
    expect(text).toContain('watch: no (read-only)');
    await until('the watcher in the container to start', async () => ((await docker(dockerHost, ['logs', 'watcher'])).stdout.includes('WATCHING /w') ? true : undefined), 60_000);

    const edited = path.join(watched, 'file');
    writeFileSync(edited, 'edited on the host\n');
    const hostMtime = lstatSync(edited, { bigint: true }).mtimeNs;
    const hostMode = lstatSync(edited).mode;
    const logs = await until('the container to see the host edit', async () => {
      const out = (await docker(dockerHost, ['logs', 'watcher'])).stdout;
      return /^(ATTRIB|MODIFY|OTHER) file$/m.test(out) ? out : undefined;
    }, 60_000);
    expect(logs).toMatch(/^ATTRIB file$/m);
    // the replay wrote nothing the host would notice: same mtime to the nanosecond, same mode
    expect(lstatSync(edited, { bigint: true }).mtimeNs).toBe(hostMtime);
    expect(lstatSync(edited).mode).toBe(hostMode);
    expect(readFileSync(edited, 'utf8')).toBe('edited on the host\n');
    expect((await docker(dockerHost, ['rm', '-f', 'watcher'])).code).toBe(0);
  }, 240_000);

  it("shareFs: virtiofs in the machine's config serves the same shares over virtiofs, which status names, through a suspend and resume; stop leaves no virtiofsd behind; SKIFF_SHARE_FS overrides it", async () => {
    await run(['stop'], 120_000);
    // An existing machine switches as the README says, in its config.yaml; no SKIFF_SHARE_FS is needed, by the resume either.
    const configFile = path.join(env.SKIFF_HOME!, 'machines', 'default', 'config.yaml');
    writeFileSync(configFile, YAML.stringify({ ...YAML.parse(readFileSync(configFile, 'utf8')), shareFs: 'virtiofs' }));
    expect(process.env.SKIFF_SHARE_FS ?? '').toBe('');
    const out = JSON.parse((await run(['start', '--json'], 300_000)).stdout);
    expect(out.sharesNotMounted).toEqual([]);
    // This host runs virtiofsd (CI runs as root, for whom Debian 12's virtiofsd starts).
    expect(await mountsOf('virtiofs')).toBe('share0\nshare1\nmounted\nmounted\n');
    const st = JSON.parse((await run(['status', '--json'])).stdout);
    expect(st.shares.map((x: { fs: string; options: string }) => [x.fs, x.options])).toEqual([
      ['virtiofs', ''],
      ['virtiofs', ''],
    ]);
    expect((await run(['status'])).stdout).toContain(`Shares:   ${HOME_SHARE} (virtiofs, rw)`);
    // One virtiofsd per share, its socket in the machine's private runtime dir.
    expect(virtiofsds()).toHaveLength(2);
    const r = await inGuest('cat "$1/$2" && printf vfs >"$1/made over virtiofs"; echo x >"$3/w" 2>/dev/null && echo wrote', HOME_SHARE, NAME, RO_GUEST);
    expect(r.stdout).toBe('hello ü\n');
    expect(readFileSync(path.join(HOME_SHARE, 'made over virtiofs'), 'utf8')).toBe('vfs');
    expect(lstatSync(path.join(HOME_SHARE, 'made over virtiofs')).uid).toBe(process.getuid!());
    expect(existsSync(path.join(RO_HOST, 'w'))).toBe(false);
    // cache=auto: a host rewrite reaches the guest (cache=always served the old contents).
    await expectHostRewriteSeen(path.join(HOME_SHARE, 'sub', 'coherent'), 'third, longer still\n');
    // QEMU 7.2 will not save a VM with a virtiofs device: suspend unplugs it, the resume plugs a fresh one in.
    await run(['suspend'], 180_000);
    expect(virtiofsds()).toEqual([]);
    const resumed = JSON.parse((await run(['start', '--json'], 180_000)).stdout);
    expect(resumed.resumed).toBe(true);
    expect(await mountsOf('virtiofs')).toBe('share0\nshare1\nmounted\nmounted\n');
    expect(virtiofsds()).toHaveLength(2);
    expect((await inGuest('cat "$1/made over virtiofs"', HOME_SHARE)).stdout).toBe('vfs');
    await run(['stop'], 120_000);
    expect(virtiofsds()).toEqual([]);
    // Stopped, status tells what the next start would use: the config's virtiofs, unless SKIFF_SHARE_FS says otherwise for one command.
    expect(JSON.parse((await run(['status', '--json'])).stdout).shares.map((x: { fs: string }) => x.fs)).toEqual(['virtiofs', 'virtiofs']);
    expect(JSON.parse((await skiffOk({ ...env, SKIFF_SHARE_FS: '9p' }, ['status', '--json'])).stdout).shares.map((x: { fs: string }) => x.fs)).toEqual(['9p', '9p']);
  }, 600_000);
});
