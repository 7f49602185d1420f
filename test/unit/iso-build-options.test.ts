import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * iso/build.sh's per-architecture choices, checked by sourcing its lib files in
 * bash (nothing is downloaded or built): options, package and module lists,
 * and the SHA256SUMS merge that keeps the other image's line.
 */
const run = promisify(execFile);
const ISO_DIR = path.resolve('iso');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'skiff-iso-opts-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function lib(arch: string, script: string): Promise<string> {
  const prelude = `set -euo pipefail; ISO_DIR=${JSON.stringify(ISO_DIR)}; for f in common arch apt modules image; do . "$ISO_DIR/lib/$f.sh"; done; arch_setup ${arch}; `;
  const { stdout } = await run('bash', ['-c', prelude + script]);
  return stdout;
}

async function buildExit(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run('bash', [path.join(ISO_DIR, 'build.sh'), ...args], { env: { ...process.env, SKIFF_ISO_CACHE: path.join(tmp, 'cache') } });
    return { code: 0, stderr: '' };
  } catch (e) {
    const err = e as { code: number; stderr: string };
    return { code: err.code, stderr: err.stderr };
  }
}

describe('build.sh options', () => {
  it('refuses an unknown architecture before touching anything', async () => {
    const r = await buildExit(['--arch', 'sparc']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown architecture sparc \(amd64 or arm64\)/);
  });
  it('refuses an unknown option and a missing --arch value, with the usage', async () => {
    expect((await buildExit(['--fast'])).stderr).toMatch(/unknown option --fast \(usage: build.sh \[--arch amd64\|arm64\]/);
    expect((await buildExit(['--arch'])).stderr).toMatch(/--arch needs a value/);
  });
});

describe('failure reports', () => {
  /** bash with build.sh's own ERR trap line, over common.sh, running `body`. */
  async function withBuildTrap(body: string): Promise<{ code: number; stderr: string }> {
    const trap = readFileSync(path.join(ISO_DIR, 'build.sh'), 'utf8').split('\n').find((l) => l.startsWith("trap 'report_failure"));
    expect(trap, 'build.sh sets its ERR trap with report_failure').toBeDefined();
    const script = `set -Eeuo pipefail; . ${JSON.stringify(path.join(ISO_DIR, 'lib/common.sh'))}\n${trap}\n${body}`;
    try {
      const { stderr } = await run('bash', ['-c', script]);
      return { code: 0, stderr };
    } catch (e) {
      const err = e as { code: number; stderr: string };
      return { code: err.code, stderr: err.stderr };
    }
  }

  it('a lookup that comes up empty inside a command substitution reports nothing', async () => {
    // module_path's shape: grep finds no line (a module built into the kernel), pipefail fails the pipeline.
    // module_closure's shape: it runs inside a command substitution and looks each module up.
    const r = await withBuildTrap('look() { grep -m1 nothing /dev/null | cut -d: -f1; }\nclosure() { local p; p=$(look); echo "[$p]"; }\nall=$(closure)\necho "$all"');
    expect(r).toEqual({ code: 0, stderr: '' });
  });

  it('a command that ends the build is named, with its exit code, once', async () => {
    const r = await withBuildTrap('p=$(grep -m1 nothing /dev/null || true)\nfalse\necho unreachable');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^iso\/build\.sh: failed \(exit 1\) at .*:\d+: false$/)]);
  });
});

describe('per-architecture settings', () => {
  it('amd64: ttyS0, isolinux, its own lock, qemu-aarch64 for binfmt', async () => {
    const out = await lib('amd64', 'echo "$ISO_NAME|$CONSOLE|$CMDLINE|${LOCK##*/}|$BIOS_BOOT|$BINFMT_TARGET|$LDSO|$KERNEL_GZIP"');
    expect(out.trim()).toBe('skiff-amd64.iso|ttyS0|console=ttyS0 quiet loglevel=3|packages.lock|1|aarch64|usr/lib64/ld-linux-x86-64.so.2|');
  });
  it('arm64: the PL011 console, no boot loader, packages.arm64.lock, qemu-x86_64 for binfmt, a gzipped kernel', async () => {
    const out = await lib('arm64', 'echo "$ISO_NAME|$CONSOLE|$CMDLINE|${LOCK##*/}|$BIOS_BOOT|$BINFMT_TARGET|$LDSO|$KERNEL_GZIP"');
    expect(out.trim()).toBe('skiff-arm64.iso|ttyAMA0|console=ttyAMA0 quiet loglevel=3|packages.arm64.lock||x86_64|usr/lib/ld-linux-aarch64.so.1|1');
  });
  it('the binfmt registration has the F flag and names the shipped emulator', async () => {
    const line = (await lib('amd64', 'echo "$BINFMT_LINE"')).trim();
    const [, name, type, , magic, mask, interp, flags] = line.split(':');
    expect([name, type, interp]).toEqual(['qemu-aarch64', 'M', '/usr/bin/qemu-aarch64']);
    expect(flags).toContain('F');
    // 20 bytes of ELF header each (the magic spells "ELF" in plain letters); e_machine 0xb7 is aarch64
    expect(magic).toMatch(/^\\x7fELF/);
    expect(magic!.split('\\x').length - 1).toBe(17);
    expect(mask!.split('\\x').length - 1).toBe(20);
    expect(magic).toMatch(/\\x02\\x00\\xb7\\x00$/);
    expect((await lib('arm64', 'echo "$BINFMT_LINE"')).trim()).toMatch(/^:qemu-x86_64:M::.*\\x02\\x00\\x3e\\x00:.*:\/usr\/bin\/qemu-x86_64:F/);
  });
});

describe('package and module lists', () => {
  it('the kernel flavour and the boot loader follow the architecture', async () => {
    const amd = (await lib('amd64', 'package_lines')).split('\n');
    const arm = (await lib('arm64', 'package_lines')).split('\n');
    expect(amd).toContain('linux-image-amd64 meta');
    expect(arm).toContain('linux-image-arm64 meta');
    expect(amd).toEqual(expect.arrayContaining(['isolinux', 'syslinux-common', 'qemu-user', 'docker.io']));
    expect(arm).toEqual(expect.arrayContaining(['qemu-user', 'docker.io', 'busybox-static']));
    expect(arm.filter((l) => /^linux-image-/.test(l))).toEqual(['linux-image-arm64 meta']);
    expect(arm).not.toContain('isolinux');
  });
  it('the power button module follows the architecture (ACPI button / gpio-keys)', async () => {
    const amd = (await lib('amd64', 'modules_list boot')).split('\n');
    const arm = (await lib('arm64', 'modules_list boot')).split('\n');
    expect(amd).toContain('button');
    expect(amd).not.toContain('gpio_keys');
    expect(arm).toContain('gpio_keys');
    expect(arm).not.toContain('button');
    expect(arm).toContain('evdev');
    expect((await lib('arm64', 'modules_list extra')).split('\n')).not.toContain('vboxsf');
  });
});

describe('SHA256SUMS', () => {
  it("building one image replaces its own line and keeps the other image's", async () => {
    const out = path.join(tmp, 'out');
    await run('mkdir', ['-p', out]);
    writeFileSync(path.join(out, 'skiff-amd64.iso'), 'amd64 image');
    writeFileSync(path.join(out, 'skiff-arm64.iso'), 'arm64 image');
    writeFileSync(path.join(out, 'SHA256SUMS'), `${'0'.repeat(64)}  skiff-arm64.iso\n${'1'.repeat(64)}  skiff-amd64.iso\n`);
    await lib('arm64', `OUT=${JSON.stringify(out)}; sums_update skiff-arm64.iso`);
    const lines = readFileSync(path.join(out, 'SHA256SUMS'), 'utf8').trim().split('\n');
    expect(lines).toEqual([
      `${'1'.repeat(64)}  skiff-amd64.iso`,
      expect.stringMatching(/^[0-9a-f]{64}  skiff-arm64\.iso$/),
    ]);
    expect(lines[1]).not.toContain('0'.repeat(64));
  });

  it.each([
    ['there is no SHA256SUMS yet (a fresh checkout)', undefined],
    ['it lists only this image', `${'0'.repeat(64)}  skiff-amd64.iso\n`],
  ])('writes the line when %s', async (_, before) => {
    const out = mkdtempSync(path.join(tmp, 'first-'));
    writeFileSync(path.join(out, 'skiff-amd64.iso'), 'amd64 image');
    if (before !== undefined) writeFileSync(path.join(out, 'SHA256SUMS'), before);
    await lib('amd64', `OUT=${JSON.stringify(out)}; sums_update skiff-amd64.iso`);
    expect(readFileSync(path.join(out, 'SHA256SUMS'), 'utf8')).toMatch(/^[0-9a-f]{64}  skiff-amd64\.iso\n$/);
    expect(readFileSync(path.join(out, 'SHA256SUMS'), 'utf8')).not.toContain('0'.repeat(64));
  });
});
