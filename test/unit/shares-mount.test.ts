import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AgentLaunch } from '../../src/agent/control.js';
import { sharesFor, type Machine } from '../../src/machine/machine.js';
import { mountCommandFor, mountSharesCommand, NINEP_MOUNT, shareMountFor, sharesMounted, VIRTIOFS_MOUNT } from '../../src/machine/shares-mount.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'skiff-shares-cmd-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the guest command that mounts the shares', () => {
  const shares = [
    { hostPath: '/home/Jane Doe.t', guestPath: '/home/Jane Doe.t/inner', readOnly: false, tag: 'share0' },
    { hostPath: "/srv/it's", guestPath: `/data/it's "q": ü $HOME \`x\``, readOnly: true, tag: 'share1' },
    { hostPath: '/h', guestPath: '/home/Jane Doe.t', readOnly: false, tag: 'share2' },
  ];

  it('mounts each share not mounted yet through the guest script, parents first, quoting paths for sh', () => {
    const lines = mountSharesCommand(shares, NINEP_MOUNT).split('\n').slice(1);
    expect(lines[0]).toBe(`mounted '/data/it'\\''s "q": ü $HOME \`x\`' || /usr/lib/skiff/shares '9p' 'share1' 'ro' '/data/it'\\''s "q": ü $HOME \`x\`' '${NINEP_MOUNT.options}'`);
    expect(lines[1]).toBe(`mounted '/home/Jane Doe.t' || /usr/lib/skiff/shares '9p' 'share2' 'rw' '/home/Jane Doe.t' '${NINEP_MOUNT.options}'`);
    expect(lines[2]).toMatch(/^mounted '\/home\/Jane Doe.t\/inner' \|\| .* 'share0' /);
    // Then one line per share that prints its index when it is still not mounted; the host reads them back.
    expect(lines.slice(3)).toEqual([`mounted '/home/Jane Doe.t/inner' || echo 0`, expect.stringMatching(/ \|\| echo 1$/), `mounted '/home/Jane Doe.t' || echo 2`, 'true']);
  });

  it('hands the guest script each value as one argument, whatever the path holds', () => {
    // A stand-in for the guest's script, which records the argv they get.
    const bin = path.join(tmp, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    const rec = path.join(tmp, 'argv');
    writeFileSync(path.join(bin, 'shares'), `#!/bin/sh\nfor a in "$@"; do printf '%s|' "$a"; done >>${rec}\necho >>${rec}\n`);
    chmodSync(path.join(bin, 'shares'), 0o755);
    const cmd = mountSharesCommand(shares, shareMountFor('virtualbox')).replaceAll('/usr/lib/skiff/shares', path.join(bin, 'shares'));
    const out = execFileSync('sh', ['-c', cmd], { env: { PATH: `${bin}:/usr/bin:/bin` } }).toString();
    expect(readFileSync(rec, 'utf8').split('\n').filter(Boolean)).toEqual([
      `vboxsf|share1|ro|/data/it's "q": ü $HOME \`x\`|`,
      'vboxsf|share2|rw|/home/Jane Doe.t|',
      'vboxsf|share0|rw|/home/Jane Doe.t/inner|',
    ]);
    expect(out).toBe('0\n1\n2\n');
  });

  it('over virtiofs: waits for the devices first (plugged in just now after a resume), and passes no options', () => {
    expect(shareMountFor('qemu', 'virtiofs')).toBe(VIRTIOFS_MOUNT);
    expect(shareMountFor('qemu', '9p')).toBe(NINEP_MOUNT);
    expect(shareMountFor('qemu')).toBe(NINEP_MOUNT);
    const lines = mountSharesCommand(shares, VIRTIOFS_MOUNT).split('\n');
    expect(lines[1]).toMatch(/^modprobe virtiofs .*\/sys\/bus\/virtio\/drivers\/virtiofs\/virtio\* .* -lt 3 \]/);
    expect(lines[2]).toBe(`mounted '/data/it'\\''s "q": ü $HOME \`x\`' || /usr/lib/skiff/shares 'virtiofs' 'share1' 'ro' '/data/it'\\''s "q": ü $HOME \`x\`'`);
    expect(mountSharesCommand(shares, NINEP_MOUNT)).not.toContain('drivers/virtiofs');
  });

  it('tells a mount point from a plain or missing directory', () => {
    const fn = mountSharesCommand([], NINEP_MOUNT).split('\n')[0];
    const check = (p: string) => execFileSync('sh', ['-c', `${fn}\nmounted "$1" && echo yes || echo no`, 'sh', p]).toString();
    expect(check('/proc')).toBe('yes\n');
    expect(check(tmp)).toBe('no\n');
    expect(check(path.join(tmp, 'missing dir'))).toBe('no\n');
  });
});

describe('the guest mount script', () => {
  const script = path.resolve('iso/guest/rootfs/usr/lib/skiff/shares');
  const weird = `/home/Jane Doe.t/it's "q": ü $HOME \`x\` *`;

  /** Runs the script with stand-ins for lib.sh, mount, mkdir and modprobe that record what they get. */
  function runScript(args: string[]): { code: number; calls: string[] } {
    const bin = path.join(tmp, 'guest-bin');
    const rec = path.join(tmp, 'guest-calls');
    rmSync(rec, { force: true });
    execFileSync('mkdir', ['-p', bin]);
    for (const tool of ['mount', 'mkdir', 'modprobe']) {
      writeFileSync(path.join(bin, tool), `#!/bin/sh\n{ printf '${tool}'; for a in "$@"; do printf '|%s' "$a"; done; echo; } >>${rec}\n`);
      chmodSync(path.join(bin, tool), 0o755);
    }
    const body = readFileSync(script, 'utf8').replace('. /usr/lib/skiff/lib.sh', `PATH=${bin}:$PATH; error() { echo "ERROR $*" >>${rec}; }; log() { :; }`);
    writeFileSync(path.join(tmp, 'shares.sh'), body);
    let code = 0;
    try {
      execFileSync('sh', [path.join(tmp, 'shares.sh'), ...args], { cwd: tmp });
    } catch (e) {
      code = (e as { status: number }).status;
    }
    let calls: string[] = [];
    try {
      calls = readFileSync(rec, 'utf8').split('\n').filter(Boolean);
    } catch {}
    return { code, calls };
  }

  it('is valid sh', () => execFileSync('sh', ['-n', script]));

  it('mounts a path with spaces, quotes, colons and non-ASCII as one argument', () => {
    const r = runScript(['9p', 'share0', 'ro', weird, NINEP_MOUNT.options]);
    expect(r.code).toBe(0);
    expect(r.calls).toEqual(['modprobe|-a|9pnet_virtio|9p', `mkdir|-p|${weird}`, `mount|-t|9p|-o|${NINEP_MOUNT.options},ro|share0|${weird}`]);
    expect(runScript(['vboxsf', 'share1', 'rw', weird]).calls.at(-1)).toBe(`mount|-t|vboxsf|-o|rw|share1|${weird}`);
  });

  it.each([
    [['9p', 'share0', 'rw'], /usage/],
    [['9p', 'share0', 'rx', '/a'], /bad mode/],
    [['9p', 'share0', 'rw', 'a b'], /not absolute/],
    [['nfs', 'share0', 'rw', '/a'], /unknown share type/],
  ])('refuses %j and mounts nothing', (args, why) => {
    const r = runScript(args);
    expect(r.code).toBe(2);
    expect(r.calls).toEqual([expect.stringMatching(why)]);
  });
});

describe('waiting for the agent to mount the shares', () => {
  const dir = mkdtempSync(path.join(tmp, 'agent-'));
  const m = {
    name: 'dev',
    config: { shares: [{ hostPath: '/a', guestPath: '/ga', readOnly: false }, { hostPath: '/b', guestPath: '/gb', readOnly: true }] },
    paths: { agentState: path.join(dir, 'agent.json'), agentLog: path.join(dir, 'agent.log') },
  } as unknown as Machine;
  const agent = { pid: 4242 } as AgentLaunch;
  const state = (pid: number, mounts?: object) =>
    writeFileSync(m.paths.agentState, JSON.stringify({ pid, machine: 'dev', state: 'connected', since: '', connectionsServed: 0, connectionsActive: 0, ...(mounts ? { mounts } : {}) }));

  it('is met once this agent recorded its mounts, not before, nor by another agent\'s record', async () => {
    const r = sharesMounted(m, agent);
    expect(await r.met()).toBe(false);
    state(4242);
    expect(await r.met()).toBe(false);
    state(1111, { at: 't', missing: [] });
    expect(await r.met()).toBe(false);
    state(4242, { at: 't', missing: [1] });
    expect(await r.met()).toBe(true);
    expect(await r.broken!()).toBeUndefined();
    expect(r.notMounted()).toEqual(['/gb']);
  });

  it('is broken, with the guest\'s first line, when the mount command failed', async () => {
    const r = sharesMounted(m, agent);
    state(4242, { at: 't', missing: [], error: 'mount: share0: no such device' });
    expect(await r.met()).toBe(false);
    const e = await r.broken!();
    expect(e?.code).toBe('shares-failed');
    expect(e?.message).toBe('mounting shared folders failed in the guest: mount: share0: no such device');
    expect((await r.timedOut()).code).toBe('shares-timeout');
  });

  it('gives the agent a mount command only for a machine with shares', () => {
    expect(mountCommandFor(m, '9p')).toBe(mountSharesCommand(sharesFor(m.config), NINEP_MOUNT));
    expect(mountCommandFor(m, 'virtiofs')).toBe(mountSharesCommand(sharesFor(m.config), VIRTIOFS_MOUNT));
    expect(mountCommandFor({ ...m, config: { shares: [] } } as unknown as Machine, '9p')).toBeUndefined();
  });
});
