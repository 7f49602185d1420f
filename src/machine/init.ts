import { mkdir, rm, writeFile } from 'node:fs/promises';
import { ExitCode, SkiffError } from '../errors.js';
import { writeSeed } from '../guest/seed.js';
import type { ResolvedImage } from '../image/store.js';
import { generateEd25519 } from '../ssh/keys.js';
import {
  defaultSettings,
  resolveSizes,
  saveMachineConfig,
  type VmConfig,
  type UserSettings,
} from './config.js';
import { withMachineLock } from './lock.js';
import { Machine, userHome } from './machine.js';
import { machineFlag, machinePaths, machinesDir, type MachinePaths } from '../layout/paths.js';
import { checkShareHostPaths, resolveShares } from './shares.js';
import { exists } from '../util/exists.js';
import { joinNetwork, leaveNetworks } from '../network/membership.js';
import { validateNetworkName } from '../network/store.js';

export interface InitRequest {
  home: string;
  name: string;
  settings: UserSettings;
  /** Fetches and verifies the image; called only once every other input has been checked. */
  resolveImage(source: { iso?: string; checksum?: string; arch: VmConfig['arch'] }): Promise<ResolvedImage>;
}


/**
 * The one creation policy of the commands that start machines (`start`,
 * `swarm up`): a machine that does not exist yet is created; one that exists is
 * used as it is, and the settings for a new one are not even read (`request` is
 * called only to create). A second caller that waited for the first finds it made.
 */
export async function findOrCreate(home: string, name: string, request: () => Promise<InitRequest>): Promise<{ machine: Machine; created: boolean }> {
  const found = await Machine.find(home, name);
  if (found) return { machine: found, created: false };
  return { machine: await initMachine(await request(), { orLoad: true }), created: true };
}

/** Builds the full config from defaults and what the user gave, checking every value. */
export function buildConfig(name: string, settings: UserSettings, image: ResolvedImage | undefined): Omit<VmConfig, 'image'> & { image?: VmConfig['image'] } {
  if (settings.driver === 'ssh') {
    throw new SkiffError('invalid-settings', 'the ssh driver reaches an existing host: it needs --host USER@HOST', {
      hint: 'e.g. skiff init -m pi --driver ssh --host pi@raspberrypi.local',
      exitCode: ExitCode.usage,
    });
  }
  if (settings.shareFs !== undefined && (settings.driver ?? 'qemu') !== 'qemu') {
    throw new SkiffError('invalid-settings', `share-fs ${settings.shareFs} is for the qemu driver; VirtualBox serves shares with its own vboxsf`, {
      hint: 'leave out --share-fs (or shareFs in the config file)',
      exitCode: ExitCode.usage,
    });
  }
  const d = defaultSettings(userHome());
  const sizes = resolveSizes({ memory: settings.memory ?? d.memory, disk: settings.disk ?? d.disk });
  return {
    version: 1,
    name,
    driver: settings.driver ?? 'qemu',
    arch: settings.arch ?? d.arch,
    cpus: settings.cpus ?? d.cpus,
    ...sizes,
    shares: resolveShares(settings.shares, d.shares),
    ...(settings.shareFs !== undefined ? { shareFs: settings.shareFs } : {}),
    binfmt: settings.binfmt ?? false,
    watch: settings.watch ?? true,
    createdAt: new Date().toISOString(),
    ...(image ? { image: { source: image.source, sha256: image.sha256, path: image.path } } : {}),
  };
}

/**
 * Creates machine NAME: config, keys, seed, then the VM and its disk through the
 * driver. The config is written last, so a machine without one is a leftover of
 * an interrupted init and is cleared by the next; a failure removes all it made.
 */
export async function initMachine(req: InitRequest, opts: { orLoad?: boolean } = {}): Promise<Machine> {
  const paths = machinePaths(req.home, req.name);
  // Check every input before anything is fetched or written.
  const draft = buildConfig(req.name, req.settings, undefined);
  await checkShareHostPaths(draft.shares);
  if (req.settings.network !== undefined) validateNetworkName(req.settings.network);
  await mkdirHome(req.home);
  return withMachineLock(machinesDir(req.home), req.name, async () => {
    if (await exists(paths.config)) {
      // `start` creating a machine: a second `start` that waited for the first finds it made.
      if (opts.orLoad) return Machine.load(req.home, req.name);
      throw new SkiffError('exists', `machine "${req.name}" already exists`, {
        hint: `start it with \`skiff start${machineFlag(req.name)}\`, or delete it first`,
        exitCode: ExitCode.conflict,
      });
    }
    // The hypervisor is checked before the image is fetched: a missing one must not leave a download behind.
    const probe = await Machine.fromConfig(req.home, paths, { ...draft, image: { source: '', sha256: '0'.repeat(64), path: '' } });
    await probe.driver.check();
    const image = await req.resolveImage({ iso: req.settings.iso, checksum: req.settings.checksum, arch: draft.arch });
    // A leftover of an interrupted init may hold an address: it is kept (joinNetwork is idempotent).
    const network = req.settings.network === undefined ? undefined : await joinNetwork(req.home, req.settings.network, req.name);
    const config: VmConfig = {
      ...draft,
      image: { source: image.source, sha256: image.sha256, path: image.path },
      ...(network ? { network } : {}),
    };
    const machine = await Machine.fromConfig(req.home, paths, config);
    // A leftover of an interrupted init (no config): clear it, VM included.
    if (await exists(paths.dir)) await clearLeftover(machine);
    try {
      await mkdir(paths.dir, { recursive: true, mode: 0o700 });
      await writeKeys(paths, req.name, guestSettings(config));
      await machine.driver.create();
      await saveMachineConfig(paths.config, config);
    } catch (e) {
      await clearLeftover(machine);
      if (network) await leaveNetworks(req.home, req.name).catch(() => {});
      throw e;
    }
    return machine;
  });
}

async function mkdirHome(home: string): Promise<void> {
  try {
    await mkdir(machinesDir(home), { recursive: true, mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SkiffError('home-unwritable', `cannot create skiff's home ${home}: ${code ?? e}`, {
      hint: 'set SKIFF_HOME (or --home) to a writable directory',
      exitCode: ExitCode.environment,
    });
  }
}

async function clearLeftover(machine: Machine): Promise<void> {
  await machine.driver.remove().catch(() => {});
  await rm(machine.paths.dir, { recursive: true, force: true });
}

/**
 * What the guest reads from settings.env at every boot. On a private network the
 * engine manages its own iptables (SKIFF_NAT=docker): Swarm's routing mesh and
 * overlay networks need it, the fixed NAT rules do not cover them.
 */
export function guestSettings(config: Pick<VmConfig, 'name' | 'network' | 'binfmt'>): Record<string, string> {
  const s: Record<string, string> = { SKIFF_HOSTNAME: config.name };
  // For drivers that cannot pass a kernel command line (VirtualBox); QEMU passes
  // skiff.binfmt= at every start, which wins.
  if (config.binfmt) s.SKIFF_BINFMT = '1';
  if (config.network) {
    s.SKIFF_NET_NAME = config.network.name;
    s.SKIFF_NET_MAC = config.network.mac;
    s.SKIFF_NET_ADDR = `${config.network.address}/${config.network.prefix}`;
    s.SKIFF_NAT = 'docker';
  }
  return s;
}

async function writeKeys(paths: MachinePaths, name: string, settings: Record<string, string>): Promise<void> {
  const user = generateEd25519(`skiff@${name}`);
  const host = generateEd25519(`skiff-guest-${name}`);
  await writeFile(paths.sshKey, user.private, { mode: 0o600 });
  await writeFile(paths.sshPub, user.public, { mode: 0o644 });
  await writeFile(paths.hostKey, host.private, { mode: 0o600 });
  await writeFile(paths.hostPub, host.public, { mode: 0o644 });
  await writeSeed(paths.seed, {
    authorizedKeys: user.public,
    hostKeyPrivate: host.private,
    hostKeyPublic: host.public,
    settings,
  });
}
