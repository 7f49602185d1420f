import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skiff, snapshot } from '../helpers/cli.js';

/**
 * Every bad input is one clear line (plus a hint), a non-zero exit code, and no
 * change at all under SKIFF_HOME. Runs the real CLI as a separate process.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-badinput-'));
const home = path.join(root, 'home');
const notAnIso = path.join(root, 'not-an-iso.iso');
const badYaml = path.join(root, 'bad.yaml');
const unknownKeyYaml = path.join(root, 'unknown.yaml');
const aFile = path.join(root, 'a-file');
let server: http.Server;
let base = '';

beforeAll(async () => {
  // A home that has been used before: skiff's top-level dirs exist, so any new file is a change.
  mkdirSync(path.join(home, 'machines'), { recursive: true });
  mkdirSync(path.join(home, 'cache'), { recursive: true });
  writeFileSync(notAnIso, Buffer.alloc(64 * 1024, 7));
  writeFileSync(badYaml, 'cpus: [2\n');
  writeFileSync(unknownKeyYaml, 'cpus: 2\ncolour: red\n');
  writeFileSync(aFile, 'x');
  server = http.createServer((_req, res) => {
    res.statusCode = 404;
    res.end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

/** The one-letter state in /proc/PID/stat (R, S, D, Z, ...), or 'gone'. */
function procState(pid: number): string {
  try {
    return /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? 'gone';
  } catch {
    return 'gone';
  }
}

// [description, args, expected exit code, pattern the one-line error matches]
const cases: Array<[string, string[], number, RegExp]> = [
  ['name with ..', ['init', '-m', '../x'], 2, /invalid machine name "\.\.\/x"/],
  ['name with /', ['init', '-m', 'a/b'], 2, /invalid machine name/],
  ['empty name', ['init', '-m', ''], 2, /invalid machine name ""/],
  ['name too long', ['init', '-m', 'x'.repeat(40)], 2, /invalid machine name/],
  ['upper-case name', ['status', '-m', 'Dev'], 2, /invalid machine name/],
  ['unknown driver', ['init', '--driver', 'hyperv'], 2, /driver/],
  ['zero cpus', ['init', '--cpus', '0'], 2, /cpus/],
  ['non-numeric cpus', ['init', '--cpus', 'many'], 2, /cpus/],
  ['too many cpus', ['init', '--cpus', '1000'], 2, /cpus/],
  ['tiny memory', ['init', '--memory', '64M'], 2, /memory 64 MiB is out of range/],
  ['memory not a size', ['init', '--memory', 'lots'], 2, /invalid memory size "lots"/],
  ['disk too small', ['init', '--disk', '1G'], 2, /disk size 1G is out of range/],
  ['disk not a size', ['init', '--disk', '20Q'], 2, /invalid disk size/],
  ['unknown arch', ['init', '--arch', 'sparc'], 2, /arch/],
  ['relative share', ['init', '--share', 'src'], 2, /invalid share "src"/],
  ['malformed checksum', ['init', '--iso', notAnIso, '--checksum', 'sha256:xyz'], 2, /checksum/i],
  ['image path missing', ['init', '--iso', path.join(root, 'nope.iso')], 3, /nope\.iso/],
  ['image is not an ISO', ['init', '--iso', notAnIso], 2, /not an ISO/i],
  ['unsupported URL scheme', ['init', '--iso', 'ftp://example.invalid/x.iso'], 2, /ftp/],
  ['config file is bad YAML', ['init', '--config', badYaml], 2, /not valid YAML/],
  ['config file has an unknown key', ['init', '--config', unknownKeyYaml], 2, /colour|unrecognized/i],
  ['config file missing', ['init', '--config', path.join(root, 'none.yaml')], 2, /cannot read config file/],
  ['unknown shell', ['shellinit', '--shell', 'csh2'], 2, /unknown shell "csh2"/],
  ['status of a missing machine', ['status', '-m', 'ghost'], 3, /machine "ghost" does not exist/],
  ['stop of a missing machine', ['stop', '-m', 'ghost'], 3, /does not exist/],
  ['shellinit of a missing machine', ['shellinit', '-m', 'ghost'], 3, /does not exist/],
  ['unknown command', ['frobnicate'], 2, /Unknown argument|Did you mean|Unknown command/i],
  ['name with a space', ['init', '-m', 'a b'], 2, /invalid machine name "a b"/],
  ['name starting with a dot', ['start', '-m', '.hidden'], 2, /invalid machine name "\.hidden"/],
  ['non-ASCII name', ['init', '-m', 'dév'], 2, /invalid machine name/],
  ['fractional cpus', ['init', '--cpus', '2.5'], 2, /cpus/],
  ['zero memory', ['init', '--memory', '0'], 2, /memory 0 MiB is out of range/],
  ['disk not whole GiB', ['init', '--disk', '2500M'], 2, /disk size 2500M is out of range or not whole GiB/],
  ['empty image path', ['init', '--iso', ''], 2, /iso/],
  ['share that is not a directory', ['init', '--share', aFile], 2, /is not a directory/],
  ['share with a relative guest path', ['init', '--share', `${root}:relative`], 2, /invalid share/],
  ['share with a bad escape', ['init', '--share', `${root}\\x`], 2, /invalid share .*a backslash may only escape/],
  ['share with a newline', ['init', '--share', `${root}/a\nb`], 2, /invalid share .*control character/],
  ['two shares on one guest path', ['init', '--share', `${root}:/x`, '--share', `${aFile}:/x`], 2, /two shares .* are mounted on \/x/],
  ['config file is a directory', ['init', '--config', root], 2, /cannot read config file .*EISDIR/],
  ['empty shell name', ['shellinit', '--shell', ''], 2, /unknown shell ""/],
  ['ssh into a missing machine', ['ssh', '-m', 'ghost', '--', 'true'], 3, /does not exist/],
  ['upgrade of a missing machine', ['upgrade', '-m', 'ghost'], 3, /does not exist/],
  ['logs of a missing machine', ['logs', '-m', 'ghost'], 3, /does not exist/],
  ['URL without a host', ['init', '--iso', 'http://'], 2, /invalid image URL "http:\/\/" \(from --iso\)/],
  ['URL with a space in the host', ['init', '--iso', 'http://exa mple/x.iso'], 2, /invalid image URL/],
  ['upgrade to a malformed URL', ['upgrade', '-m', 'ghost', '--iso', 'https://'], 3, /does not exist/],
  ['delete of a missing machine', ['delete', '-m', 'ghost', '--yes'], 3, /does not exist/],
];

// Environment variables are user input too: [description, env, args, exit code, pattern].
const envCases: Array<[string, NodeJS.ProcessEnv, string[], number, RegExp]> = [
  ['SKIFF_ISO_URL with an unsupported scheme', { SKIFF_ISO_URL: 'ftp://example.invalid/x.iso' }, ['init'], 2, /unsupported image location "ftp:/],
  ['SKIFF_ISO_URL naming a missing file', { SKIFF_ISO_URL: '/nonexistent/skiff.iso' }, ['init'], 3, /no such image file: \/nonexistent\/skiff\.iso/],
  ['SKIFF_ISO_URL naming a file that is not an ISO', { SKIFF_ISO_URL: '@notAnIso' }, ['init'], 2, /not an ISO/i],
  ['SKIFF_ISO_URL malformed', { SKIFF_ISO_URL: 'https://' }, ['init'], 2, /invalid image URL "https:\/\/" \(from SKIFF_ISO_URL\)/],
  ['SKIFF_VBOXMANAGE not an executable', { SKIFF_VBOXMANAGE: '@aFile' }, ['init', '--driver', 'virtualbox'], 5, /SKIFF_VBOXMANAGE points at .*not an executable/],
];

describe('bad input: one clear error, non-zero exit, nothing changed', () => {
  it.each(cases)('%s', async (_what, args, code, re) => {
    const before = snapshot(home);
    const r = await skiff([...args, '--home', home]);
    expect(r.code, r.stderr).toBe(code);
    const first = r.stderr.split('\n')[0] ?? '';
    expect(first).toMatch(/^skiff: error: /);
    expect(first).toMatch(re);
    expect(r.stdout).toBe('');
    expect(snapshot(home)).toEqual(before);
  });

  it.each(envCases)('%s', async (_what, extra, args, code, re) => {
    const before = snapshot(home);
    const e = Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, v === '@notAnIso' ? notAnIso : v === '@aFile' ? aFile : v]));
    const r = await skiff([...args, '--home', home], e);
    expect(r.code, r.stderr).toBe(code);
    const first = r.stderr.split('\n')[0] ?? '';
    expect(first).toMatch(/^skiff: error: /);
    expect(first).toMatch(re);
    expect(snapshot(home)).toEqual(before);
  });

  it('a 404 image URL', async () => {
    const before = snapshot(home);
    const r = await skiff(['init', '--iso', `${base}/skiff-amd64.iso`, '--checksum', `sha256:${'0'.repeat(64)}`, '--home', home]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.split('\n')[0]).toMatch(/404/);
    // The image cache may hold an empty partial dir at most, never a machine.
    expect(snapshot(home).filter((l) => l.startsWith('machines/') && l !== 'machines/')).toEqual(before.filter((l) => l.startsWith('machines/') && l !== 'machines/'));
  });

  it('an unreachable image URL fails fast', async () => {
    const t0 = Date.now();
    const r = await skiff(['init', '--iso', 'http://127.0.0.1:9/skiff-amd64.iso', '--checksum', `sha256:${'0'.repeat(64)}`, '--home', home]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.split('\n')[0]).toMatch(/^skiff: error: .*(connect|reach|refused)/i);
    expect(Date.now() - t0).toBeLessThan(60_000);
  });

  it('an unwritable SKIFF_HOME', async () => {
    const r = await skiff(['init', '--iso', notAnIso], { SKIFF_HOME: path.join(aFile, 'home') });
    expect(r.code).toBe(5);
    expect(r.stderr.split('\n')[0]).toMatch(/cannot create skiff's home/);
  });

  it('--json errors are JSON on stdout', async () => {
    const r = await skiff(['status', '-m', 'ghost', '--json', '--home', home]);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'no-machine' } });
  });
});

/**
 * A crash can leave any of skiff's files torn or full of garbage. Each is reported
 * (config) or ignored as a stale leftover (run state, pid files), never a crash.
 */
describe('corrupt config and state files', () => {
  const chome = path.join(root, 'corrupt-home');
  const runtime = path.join('/tmp', `sk-bi-${process.pid}`);
  const cenv = { SKIFF_HOME: chome, SKIFF_RUNTIME_DIR: runtime };
  const mdir = path.join(chome, 'machines', 'broken');
  const config = path.join(mdir, 'config.yaml');
  const goodConfig = [
    'version: 1',
    'name: broken',
    'driver: qemu',
    'arch: x86_64',
    'cpus: 2',
    'memoryMiB: 2048',
    'diskGiB: 8',
    'image:',
    '  source: test',
    `  sha256: ${'a'.repeat(64)}`,
    `  path: ${notAnIso}`,
    'shares: []',
    'createdAt: 2026-11-25T00:00:00.000Z',
    '',
  ].join('\n');

  beforeAll(() => {
    mkdirSync(path.join(mdir, 'driver'), { recursive: true });
    // The QEMU driver calls a machine created once its data disk exists.
    writeFileSync(path.join(mdir, 'driver', 'data.qcow2'), '');
  });
  afterAll(() => {
    rmSync(runtime, { recursive: true, force: true });
  });

  it.each([
    ['garbage YAML', 'cpus: [2\n::', /is corrupt/],
    ['an empty file (a torn write)', '', /is corrupt/],
    ['a wrong type', goodConfig.replace('cpus: 2', 'cpus: many'), /is corrupt: cpus/],
    ['another machine\'s name', goodConfig.replace('name: broken', 'name: other'), /names machine "other"/],
  ])('a config with %s is reported, not a crash', async (_what, text, re) => {
    writeFileSync(config, text);
    const before = snapshot(chome);
    for (const cmd of [['status'], ['start'], ['stop'], ['ssh', '--', 'true'], ['upgrade']]) {
      const r = await skiff(['-m', 'broken', ...cmd], cenv);
      expect(r.code, `${cmd[0]}: ${r.stderr}`).toBe(5);
      expect(r.stderr.split('\n')[0]).toMatch(/^skiff: error: the config of machine "broken" \(.*config\.yaml\) /);
      expect(r.stderr.split('\n')[0]).toMatch(re);
      expect(r.stderr).toMatch(/hint: .*skiff delete --yes -m broken/);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
    const l = await skiff(['list', '--json'], cenv);
    expect(l.code, l.stderr).toBe(0);
    expect(JSON.parse(l.stdout)).toEqual([expect.objectContaining({ name: 'broken', state: 'error', error: expect.stringMatching(re) })]);
    expect(snapshot(chome)).toEqual(before);
  });

  it('garbage in the run state, pid and agent files is a stale leftover: status says stopped, stop signals nobody', async () => {
    writeFileSync(config, goodConfig);
    process.env.SKIFF_RUNTIME_DIR = runtime;
    const { machinePaths } = await import('../../src/layout/paths.js');
    const { supervisorPidPath } = await import('../../src/agent/supervisor.js');
    const p = machinePaths(chome, 'broken');
    delete process.env.SKIFF_RUNTIME_DIR;
    mkdirSync(p.runDir, { recursive: true });
    // A live process that is neither our agent nor its supervisor, under both pid files.
    const decoy = spawn('sleep', ['300'], { stdio: 'ignore' });
    try {
      const pid = decoy.pid!;
      writeFileSync(path.join(p.driverDir, 'state.json'), '{"version":1,"pid":');
      writeFileSync(path.join(p.runDir, 'qemu.pid'), 'not a pid\n');
      writeFileSync(p.agentPid, String(pid));
      writeFileSync(supervisorPidPath(p.agentPid), String(pid));
      writeFileSync(p.agentState, '\0\0\0garbage');
      const r = await skiff(['status', '-m', 'broken', '--json'], cenv);
      expect(r.code, r.stderr).toBe(0);
      const s = JSON.parse(r.stdout);
      expect(s.state).toBe('stopped');
      expect(['stale', 'stopped']).toContain(s.agent.state);
      const d = await skiff(['shellinit', '-m', 'broken', '--shell', 'bash'], cenv);
      expect(d.code, d.stderr).toBe(0);
      // stop clears the agent's leftovers, and must not take the decoy for the agent.
      const st = await skiff(['stop', '-m', 'broken'], cenv);
      expect(st.code, st.stderr).toBe(0);
      // A signalled process is a zombie (state Z) or gone by the time skiff has exited.
      expect(procState(pid)).toMatch(/^[RSD]$/);
      expect(decoy.exitCode).toBeNull();
      expect(decoy.signalCode).toBeNull();
    } finally {
      decoy.kill('SIGKILL');
    }
  });

  it('`delete --yes` removes a machine whose config is corrupt, as the error\'s hint says', async () => {
    writeFileSync(config, 'cpus: [2\n');
    const r = await skiff(['delete', '--yes', '-m', 'broken'], cenv);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(mdir)).toBe(false);
    const l = await skiff(['list', '--json'], cenv);
    expect(JSON.parse(l.stdout)).toEqual([]);
  });
});
