import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bootSettingsCommand } from '../../src/machine/boot-settings.js';

/**
 * The guest command, run by sh against a stand-in guest tree: the guest's paths
 * are moved under a temp dir, binfmt_misc is a plain directory whose entries are
 * removed by writing -1 (as the kernel does), and /usr/lib/skiff/binfmt records
 * that it ran.
 */
let root = '';
afterEach(() => rmSync(root, { recursive: true, force: true }));

function guest(settings: string, registered: boolean): { run(cmd: string): void; settings(): string; registered(): boolean; registerRan(): boolean } {
  root = mkdtempSync(path.join(os.tmpdir(), 'skiff-bootset-'));
  mkdirSync(path.join(root, 'mnt/data/skiff'), { recursive: true });
  mkdirSync(path.join(root, 'binfmt_misc'));
  mkdirSync(path.join(root, 'etc/skiff'), { recursive: true });
  writeFileSync(path.join(root, 'mnt/data/skiff/settings.env'), settings);
  writeFileSync(path.join(root, 'etc/skiff/binfmt'), ':qemu-aarch64:M::\\x7fELF:\\xff:/usr/bin/qemu-aarch64:FPC');
  if (registered) writeFileSync(path.join(root, 'binfmt_misc/qemu-aarch64'), 'enabled\n');
  const entry = path.join(root, 'binfmt_misc/qemu-aarch64');
  return {
    run(cmd) {
      const local = cmd
        .replaceAll('/mnt/data', `${root}/mnt/data`)
        .replaceAll('/etc/skiff/binfmt', `${root}/etc/skiff/binfmt`)
        .replaceAll('/proc/sys/fs/binfmt_misc', `${root}/binfmt_misc`)
        .replaceAll('/usr/lib/skiff/binfmt', `touch ${root}/register-ran`)
        // The kernel removes an entry when -1 is written to it; a plain file needs rm.
        .replace('echo -1 > "$p"', 'rm "$p"');
      execFileSync('sh', ['-ec', local]);
    },
    settings: () => readFileSync(path.join(root, 'mnt/data/skiff/settings.env'), 'utf8'),
    registered: () => existsSync(entry),
    registerRan: () => existsSync(path.join(root, 'register-ran')),
  };
}

describe('bootSettingsCommand', () => {
  it('binfmt on: writes SKIFF_BINFMT into settings.env, keeps the rest, registers', () => {
    const g = guest("SKIFF_HOSTNAME='dev'\n", false);
    g.run(bootSettingsCommand({ binfmt: true }));
    expect(g.settings()).toBe("SKIFF_HOSTNAME='dev'\nSKIFF_BINFMT='1'\n");
    expect(g.registerRan()).toBe(true);
  });

  it('binfmt off: removes it from settings.env and unregisters the emulator', () => {
    const g = guest("SKIFF_HOSTNAME='dev'\nSKIFF_BINFMT='1'\n", true);
    g.run(bootSettingsCommand({ binfmt: false }));
    expect(g.settings()).toBe("SKIFF_HOSTNAME='dev'\n");
    expect(g.registered()).toBe(false);
    expect(g.registerRan()).toBe(false);
  });

  it('binfmt off when nothing was registered: succeeds, changes nothing else', () => {
    const g = guest("SKIFF_HOSTNAME='dev'\n", false);
    g.run(bootSettingsCommand({ binfmt: false }));
    expect(g.settings()).toBe("SKIFF_HOSTNAME='dev'\n");
  });
});
