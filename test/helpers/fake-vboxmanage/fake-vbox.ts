import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MachineSpec, Share } from '../../../src/drivers/driver.js';
import { buildSeed } from '../../../src/guest/seed.js';
import { machinePaths } from '../../../src/layout/paths.js';

/** The directory holding the stand-in `VBoxManage`; tests put it first on PATH. */
export const FAKE_VBOX_DIR = path.dirname(fileURLToPath(import.meta.url));

const ENV_KEYS = [
  'PATH', 'SKIFF_VBOXMANAGE', 'FAKE_VBOX_STATE', 'FAKE_VBOX_LOG', 'FAKE_VBOX_VERSION', 'FAKE_VBOX_ACPI_DELAY_MS',
  'FAKE_VBOX_ACPI_IGNORE', 'FAKE_VBOX_UNLOCK_DELAY_MS', 'FAKE_VBOX_FAIL', 'FAKE_VBOX_NAT', 'FAKE_VBOX_QEMU', 'FAKE_VBOX_ENGINE', 'FAKE_VBOX_DISKFULL',
] as const;

export interface FakeVBox {
  /** Temp dir of this fake: state, log, machine home, ISO. */
  root: string;
  home: string;
  isoPath: string;
  /** Every VBoxManage argv since the last clearCalls(), in order. */
  calls(): Promise<string[][]>;
  clearCalls(): Promise<void>;
  /** The fake's registry: VMs by UUID and media by path. */
  registry(): Promise<{ vms: Record<string, FakeVm>; media: Record<string, unknown> }>;
  /** Sets (or with undefined, clears) one of the fake's FAKE_VBOX_* variables. */
  set(key: (typeof ENV_KEYS)[number], value: string | undefined): void;
  spec(name: string, opts?: { shares?: Share[]; diskGiB?: number }): Promise<MachineSpec>;
  cleanup(): Promise<void>;
}

export interface FakeVm {
  name: string;
  uuid: string;
  state: string;
  cfgFile: string;
  nics: Record<string, { type: string; nictype: string; intnet?: string; mac?: string; rules: Array<{ name: string; hostIp: string; hostPort: number; guestPort: number }> }>;
  controllers: Array<{ name: string; attachments: Record<string, { type: string; medium: string }> }>;
  shares: Array<{ name: string; hostPath: string; writable: boolean; automount: boolean }>;
}

/** Puts the stand-in first on PATH (process-wide: the driver spawns VBoxManage with this env). */
export async function setupFakeVBox(): Promise<FakeVBox> {
  const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  const root = await mkdtemp(path.join(os.tmpdir(), 'skiff-fakevbox-'));
  const stateFile = path.join(root, 'vbox-state.json');
  const logFile = path.join(root, 'vbox-calls.log');
  const home = path.join(root, 'home');
  const isoPath = path.join(root, 'skiff.iso');
  await mkdir(home, { recursive: true });
  // Enough of an ISO for VirtualBox's attach: the stand-in only checks that the file exists.
  await writeFile(isoPath, Buffer.alloc(64 * 1024));
  process.env.PATH = `${FAKE_VBOX_DIR}${path.delimiter}${saved.PATH ?? ''}`;
  delete process.env.SKIFF_VBOXMANAGE;
  process.env.FAKE_VBOX_STATE = stateFile;
  process.env.FAKE_VBOX_LOG = logFile;
  for (const k of ENV_KEYS.slice(4)) delete process.env[k];

  return {
    root,
    home,
    isoPath,
    async calls() {
      let text = '';
      try {
        text = await readFile(logFile, 'utf8');
      } catch {
        return [];
      }
      return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as string[]);
    },
    async clearCalls() {
      await rm(logFile, { force: true });
    },
    async registry() {
      try {
        return JSON.parse(await readFile(stateFile, 'utf8'));
      } catch {
        return { vms: {}, media: {} };
      }
    },
    set(key, value) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    },
    async spec(name, opts = {}) {
      const paths = machinePaths(home, name);
      await mkdir(paths.dir, { recursive: true });
      const seed = await buildSeed({
        authorizedKeys: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests test',
        hostKeyPrivate: '-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n',
        hostKeyPublic: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKey host',
        settings: { HOSTNAME: name },
      });
      await writeFile(paths.seed, seed);
      return {
        name,
        paths,
        cpus: 2,
        memoryMiB: 2048,
        diskGiB: opts.diskGiB ?? 20,
        arch: 'x86_64',
        isoPath,
        shares: opts.shares ?? [],
      };
    },
    async cleanup() {
      for (const k of ENV_KEYS) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}
