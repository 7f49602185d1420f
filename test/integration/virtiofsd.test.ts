import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findVirtiofsd } from '../../src/drivers/qemu/share-fs.js';
import { startVirtiofsd, stopVirtiofsds, virtiofsdArgv, virtiofsdFiles } from '../../src/drivers/qemu/virtiofsd.js';
import { findOnPath } from '../../src/drivers/qemu/binaries.js';
import { until } from '../helpers/agent-fixture.js';
import { processCommandLine } from '../../src/util/process-alive.js';

/**
 * The real virtiofsd, started the way the QEMU driver starts it (no QEMU: it
 * listens until a VM connects), then ended with nothing left behind.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-vfsd-'));
const runDir = path.join(root, 'run');
const source = path.join(root, 'a share, with "commas" ü');
mkdirSync(runDir, { mode: 0o700 });
mkdirSync(source);
afterAll(async () => {
  await stopVirtiofsds(runDir);
  rmSync(root, { recursive: true, force: true });
});

const binary = await findVirtiofsd(process.env);

describe('virtiofsd under skiff', () => {
  // Not skipped where it is missing: CI installs it (Debian: qemu-system-common), and a skip would hide that it broke.
  beforeAll(() => {
    if (binary === undefined) throw new Error('no virtiofsd on this host: install qemu-system-common (Debian) or set SKIFF_VIRTIOFSD');
  });

  it('listens on its socket in the runtime dir, names it on its command line, and stopVirtiofsds ends it and its files', async () => {
    const log = path.join(root, 'virtiofsd.log');
    const share = { hostPath: source, guestPath: '/s', readOnly: true, tag: 'share0' };
    await startVirtiofsd({ binary: binary!, runDir, index: 0, share, log });
    const { socket, pidFile } = virtiofsdFiles(runDir, 0);
    expect(statSync(socket).isSocket()).toBe(true);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(await processCommandLine(pid)).toContain(`--socket-path=${socket}`);
    expect(await processCommandLine(pid)).toContain('a share\\, with "commas" ü');
    await stopVirtiofsds(runDir);
    expect(await processCommandLine(pid)).toBeUndefined();
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
  });

  it('says what virtiofsd said when it cannot start', async () => {
    const share = { hostPath: path.join(root, 'missing'), guestPath: '/s', readOnly: false, tag: 'share1' };
    await expect(startVirtiofsd({ binary: binary!, runDir, index: 1, share, log: path.join(root, 'bad.log') })).rejects.toThrow(/virtiofsd for .*missing did not start \(exit \d+\)/);
    expect(existsSync(virtiofsdFiles(runDir, 1).socket)).toBe(false);
  });
});

/**
 * The same start script and unshare flags, run by a user who is not root and
 * has a supplementary group, as nearly every login does. The test makes such a
 * throwaway user (so it needs root, as CI is) with a /etc/subgid range, as
 * useradd gives one, and needs newgidmap (uidmap; CI installs it).
 */
describe('virtiofsd run by a user who is not root', () => {
  const name = `skiffvfs${process.pid % 100_000}`;
  const home = mkdtempSync(path.join(os.tmpdir(), 'skiff-vfsu-'));
  let ids = { uid: 0, gid: 0 };
  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this test makes a throwaway user: run it as root (CI does)');
    if ((await findOnPath('newgidmap')) === undefined) throw new Error('no newgidmap on this host: install uidmap (scripts/host-packages.sh install test)');
    // uidmap's install makes /etc/subgid; usermod refuses to add a range without one.
    if (!existsSync('/etc/subgid')) writeFileSync('/etc/subgid', '', { mode: 0o644 });
    execFileSync('useradd', ['-M', '-U', '-G', 'users', '-s', '/usr/sbin/nologin', name]);
    if (!readFileSync('/etc/subgid', 'utf8').split('\n').some((l) => l.startsWith(`${name}:`))) execFileSync('usermod', ['--add-subgids', '400000-465535', name]);
    ids = { uid: Number(execFileSync('id', ['-u', name])), gid: Number(execFileSync('id', ['-g', name])) };
    chmodSync(home, 0o755);
    for (const d of ['src', 'run']) {
      mkdirSync(path.join(home, d), { mode: 0o700 });
      chownSync(path.join(home, d), ids.uid, ids.gid);
    }
  });
  afterAll(() => {
    // Anything of the user's still running (a virtiofsd the kill missed) would keep userdel from working.
    spawnSync('pkill', ['-KILL', '-u', name]);
    execFileSync('userdel', [name]);
    rmSync(home, { recursive: true, force: true });
  });

  /** Starts the script as the user, with their groups, under `ns`'s flags; resolves with its output once it listens or exits. */
  async function startAs(ns: 'self' | 'subgid'): Promise<{ listening: boolean; output: string }> {
    const socket = path.join(home, 'run', `${ns}.sock`);
    const argv = virtiofsdArgv(binary!, { hostPath: path.join(home, 'src'), readOnly: false }, socket, ns);
    const child = spawn('setpriv', [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--init-groups', 'unshare', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let exited = false;
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('exit', () => (exited = true));
    await until('virtiofsd to listen or exit', async () => (exited || existsSync(socket) ? true : undefined), 10_000);
    const listening = existsSync(socket) && !exited;
    child.kill('SIGKILL');
    return { listening, output };
  }

  it('exits with "setgroups() failed" under `unshare -r` alone, and listens once newgidmap maps the subordinate gids', async () => {
    expect(execFileSync('id', ['-G', name]).toString().trim().split(' ').length).toBeGreaterThan(1);
    const self = await startAs('self');
    expect(self.listening).toBe(false);
    expect(self.output).toContain('setgroups() failed');
    const subgid = await startAs('subgid');
    expect(subgid.output).not.toContain('setgroups() failed');
    expect(subgid.listening).toBe(true);
  });
});
