import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
