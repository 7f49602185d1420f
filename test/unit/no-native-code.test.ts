import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * issue 12: skiff is pure JavaScript, so it runs wherever Node and QEMU do
 * (32-bit hosts included). Every runtime dependency must be free of native
 * code and install scripts, except ssh2's optional crypto binding and its
 * cpu-features helper, which skiff must work without.
 *
 * CI's no-native job installs with `npm ci --ignore-scripts` and sets
 * SKIFF_EXPECT_NO_NATIVE=1: then no build output of those two may exist either.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE_MODULES = path.join(ROOT, 'node_modules');
const LOOPBACK = fileURLToPath(new URL('../host32/ssh2-loopback.cjs', import.meta.url));
const EXPECT_NO_NATIVE = process.env.SKIFF_EXPECT_NO_NATIVE === '1';

/** The optional native parts ssh2 tries to load and copes without. */
const KNOWN_OPTIONAL_NATIVE: Record<string, { buildOutput: string }> = {
  'node_modules/ssh2': { buildOutput: 'ssh2/lib/protocol/crypto/build/Release/sshcrypto.node' },
  'node_modules/cpu-features': { buildOutput: 'cpu-features/build/Release/cpufeatures.node' },
};
const INSTALL_HOOKS = ['preinstall', 'install', 'postinstall'] as const;

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  hasInstallScript?: boolean;
  link?: boolean;
}

const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
/** Every package `npm ci --omit=dev` installs: the lock's entries not marked dev. */
const runtime = Object.entries(lock.packages).filter(([key, e]) => key !== '' && e.dev !== true && e.link !== true);

/** Files under dir that mark native code, not descending into nested packages (they are entries of their own). */
function nativeMarkers(dir: string, nested = false): string[] {
  const out: string[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) {
      if (d.name === 'node_modules') continue;
      out.push(...nativeMarkers(p, true));
    } else if (d.name.endsWith('.node') || d.name === 'binding.gyp') {
      out.push(p);
    }
  }
  return nested ? out : out.map((p) => path.relative(dir, p));
}

/** Every `.node` file anywhere under dir. */
function nodeFiles(dir: string): string[] {
  const out: string[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) out.push(...nodeFiles(p));
    else if (d.name.endsWith('.node')) out.push(path.relative(NODE_MODULES, p));
  }
  return out;
}

function problemsOf(key: string): string[] {
  const dir = path.join(ROOT, key);
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { scripts?: Record<string, string>; gypfile?: boolean };
  const problems = INSTALL_HOOKS.filter((h) => pkg.scripts?.[h] !== undefined).map((h) => `${h} script`);
  if (pkg.gypfile === true) problems.push('gypfile: true');
  problems.push(...nativeMarkers(dir));
  if (lock.packages[key]?.hasInstallScript === true && !problems.some((p) => p.endsWith('script'))) problems.push('hasInstallScript in package-lock.json');
  return problems;
}

function runLoopback(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [LOOPBACK, ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

describe('no native code in the runtime dependencies', () => {
  it('the runtime tree is what package-lock.json says, and installed', () => {
    expect(runtime.length).toBeGreaterThan(20);
    const missing = runtime.filter(([key, e]) => e.optional !== true && !existsSync(path.join(ROOT, key, 'package.json'))).map(([k]) => k);
    expect(missing).toEqual([]);
  });

  it('no runtime dependency has install scripts, binding.gyp, gypfile or .node files, except ssh2 and cpu-features', () => {
    const offenders: Record<string, string[]> = {};
    for (const [key] of runtime) {
      if (KNOWN_OPTIONAL_NATIVE[key] !== undefined || !existsSync(path.join(ROOT, key, 'package.json'))) continue;
      const problems = problemsOf(key);
      if (problems.length > 0) offenders[key] = problems;
    }
    expect(offenders).toEqual({});
  });

  it('the native parts that remain are optional: cpu-features is an optional dependency and ssh2 loads it in a try', () => {
    expect(lock.packages['node_modules/cpu-features']?.optional).toBe(true);
    expect(lock.packages['node_modules/ssh2']?.dev).not.toBe(true);
    const ssh2Lib = path.join(NODE_MODULES, 'ssh2/lib/protocol');
    expect(readFileSync(path.join(ssh2Lib, 'crypto.js'), 'utf8')).toMatch(/try \{\s*binding = require\('\.\/crypto\/build\/Release\/sshcrypto\.node'\)/);
    expect(readFileSync(path.join(ssh2Lib, 'constants.js'), 'utf8')).toMatch(/try \{\s*cpuInfo = require\('cpu-features'\)\(\)/);
    // skiff itself must not reach for them
    const src = readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const users = src.filter((f) => /sshcrypto|cpu-features/.test(readFileSync(path.join(ROOT, 'src', f), 'utf8')));
    expect(users).toEqual([]);
  });

  it('ssh2 works with its native binding and cpu-features unloadable: keys, handshake, exec and 1 MiB each way per cipher', async () => {
    const r = await runLoopback(['--block-native']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { bindingAvailable: boolean; blocked: string[]; results: { cipher: string; code: number; uploadOk: boolean; downloadOk: boolean }[] };
    expect(out.bindingAvailable).toBe(false);
    expect(out.blocked).toEqual(expect.arrayContaining(['cpu-features', expect.stringMatching(/sshcrypto\.node$/)]));
    expect(out.results.map((x) => x.cipher)).toEqual(['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes256-ctr']);
    for (const res of out.results) expect(res, res.cipher).toMatchObject({ code: 0, uploadOk: true, downloadOk: true });
  }, 90_000);

  it(
    EXPECT_NO_NATIVE
      ? 'installed with --ignore-scripts: no .node file in any runtime dependency, and ssh2 finds no binding'
      : 'installed with scripts: the only .node files in runtime dependencies are ssh2 and cpu-features build outputs',
    () => {
      const req = createRequire(path.join(ROOT, 'package.json'));
      const resolves = (id: string) => {
        try {
          req.resolve(id);
          return true;
        } catch {
          return false;
        }
      };
      const runtimeDirs = runtime.map(([key]) => path.relative(NODE_MODULES, path.join(ROOT, key)) + path.sep);
      const inRuntime = nodeFiles(NODE_MODULES).filter((f) => runtimeDirs.some((d) => f.startsWith(d)));
      const known = Object.values(KNOWN_OPTIONAL_NATIVE).map((k) => k.buildOutput);
      if (EXPECT_NO_NATIVE) {
        expect(inRuntime).toEqual([]);
        for (const id of known) expect(resolves(id), id).toBe(false);
        expect((req('ssh2/lib/protocol/crypto.js') as { bindingAvailable: boolean }).bindingAvailable).toBe(false);
        expect(resolves('ssh2')).toBe(true);
      } else {
        // node-gyp also leaves a copy under obj.target/; both sit in the packages' build/ dirs
        const builtByKnown = (f: string) => known.some((k) => path.dirname(f).startsWith(path.dirname(path.dirname(k))));
        expect(inRuntime.filter((f) => !builtByKnown(f))).toEqual([]);
      }
    },
  );
});
