import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { z } from 'zod';
import { ARCHES, hostArch, type Arch } from '../arch.js';
import { ExitCode, SkiffError } from '../errors.js';
import { intnetField, ipv4Field, mcastGroupField, networkNameField, portField } from '../network/fields.js';
import { describeZodError, parseYamlFile, writeYamlFile } from '../util/yaml-file.js';
import { notAVm, RemoteHostSchema } from '../remote/host.js';
import { defaultShares, shareCharacterProblem } from './shares.js';
import { parseSizeMiB } from './size.js';

export const VM_DRIVERS = ['qemu', 'virtualbox'] as const;
/** What may carry a QEMU machine's shares (VirtualBox's are always vboxsf). */
export const SHARE_FS = ['9p', 'virtiofs'] as const;
/** `ssh`: an existing Linux host with its own engine, reached over SSH (src/remote). */
export const DRIVERS = [...VM_DRIVERS, 'ssh'] as const;

const sharePath = z
  .string()
  .startsWith('/', 'must be an absolute path')
  .refine((p) => !shareCharacterProblem(p), 'must not hold a control character (newline, tab, ...)');
const ShareSchema = z.object({
  hostPath: sharePath,
  guestPath: sharePath,
  readOnly: z.boolean().default(false),
});

/** The stored, validated config of a VM machine (machines/NAME/config.yaml). */
export const VmConfigSchema = z.object({
  version: z.literal(1),
  name: z.string(),
  driver: z.enum(VM_DRIVERS),
  arch: z.enum(ARCHES),
  cpus: z.number().int().min(1).max(64),
  memoryMiB: z.number().int().min(512).max(256 * 1024),
  diskGiB: z.number().int().min(2).max(4096),
  image: z.object({
    /** What the user gave (URL, path, "local build", "release"). */
    source: z.string(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    /** The verified image in the cache. */
    path: z.string(),
  }),
  shares: z.array(ShareSchema).default([]),
  /**
   * QEMU only: what carries the shares, applied at each start. Unset is 9p (see
   * drivers/qemu/share-fs.ts for why); SKIFF_SHARE_FS in the environment wins.
   */
  shareFs: z.enum(SHARE_FS).optional(),
  /** Images of the other architecture run through binfmt_misc + QEMU user mode; applied at each start. */
  binfmt: z.boolean().default(false),
  /** Host edits in writable shares reach file watchers in containers (the agent replays them); applied at each start. */
  watch: z.boolean().default(true),
  /** Its place on a private network (skiff init --network), copied from networks/NAME.yaml at init. */
  network: z
    .object({
      name: networkNameField,
      address: ipv4Field,
      prefix: z.number().int().min(8).max(30),
      mac: z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/),
      // These reach QEMU's -netdev and VBoxManage's --intnet: held to the shapes skiff writes.
      mcastGroup: mcastGroupField,
      mcastPort: portField,
      intnet: intnetField,
    })
    .optional(),
  createdAt: z.string(),
});
export type VmConfig = z.infer<typeof VmConfigSchema>;

/**
 * A host skiff does not run but reaches (`init --driver ssh`). Its host key is
 * pinned in the machine's host key file, as a guest's is. A remote host sees none
 * of the laptop's folders, and runs its own images: no shares, no binfmt, no watch.
 */
export const RemoteConfigSchema = z.object({
  version: z.literal(1),
  name: z.string(),
  driver: z.literal('ssh'),
  /** What `uname -m` said at init. */
  arch: z.string().min(1),
  remote: RemoteHostSchema,
  shares: z.array(ShareSchema).max(0).default([]),
  binfmt: z.literal(false).default(false),
  watch: z.literal(false).default(false),
  /** On no skiff private network: a remote host is on its own LAN. */
  network: z.undefined().optional(),
  createdAt: z.string(),
});
export type RemoteConfig = z.infer<typeof RemoteConfigSchema>;

export const MachineConfigSchema = z.discriminatedUnion('driver', [VmConfigSchema, RemoteConfigSchema]);
export type MachineConfig = VmConfig | RemoteConfig;

export function isRemote(config: MachineConfig): config is RemoteConfig {
  return config.driver === 'ssh';
}

/** The config of a machine skiff runs as a VM; a remote host is refused for `what` (a verb: "upgrade"). */
export function vmConfig(config: MachineConfig, what: string): VmConfig {
  if (!isRemote(config)) return config;
  throw notAVm(config.name, config.remote, what);
}


/**
 * What a user may set: `init` flags or a YAML file given with --config. Sizes take
 * units ("2G"); a bare number is MiB for memory and GiB for the disk.
 */
export const UserSettingsSchema = z
  .object({
    driver: z.enum(DRIVERS),
    arch: z.enum(ARCHES),
    cpus: z.coerce.number().int().min(1).max(64),
    memory: z.union([z.string(), z.number()]),
    disk: z.union([z.string(), z.number()]),
    iso: z.string().min(1),
    checksum: z.string(),
    shares: z.union([z.array(z.union([z.string(), ShareSchema])), z.literal(false)]),
    shareFs: z.enum(SHARE_FS),
    binfmt: z.boolean(),
    watch: z.boolean(),
    network: z.string().min(1),
  })
  .partial()
  .strict();
export type UserSettings = z.infer<typeof UserSettingsSchema>;

/** A 32-bit QEMU can give a guest at most 2047 MiB (it must map all of it in its own address space). */
export function hostIs32Bit(arch: string = process.arch): boolean {
  return arch === 'ia32' || arch === 'arm' || arch === 'mipsel' || arch === 'ppc';
}
const MAX_MEMORY_32BIT_MIB = 2047;

export function defaultSettings(home: string | undefined): Required<Pick<UserSettings, 'driver' | 'cpus' | 'memory' | 'disk'>> & {
  arch: Arch;
  shares: Array<z.infer<typeof ShareSchema>>;
} {
  return {
    driver: 'qemu',
    arch: hostArch(),
    cpus: 2,
    memory: hostIs32Bit() ? '1G' : '2G',
    disk: '20G',
    // The user's home at the same path in the guest, as boot2docker's /Users share.
    shares: defaultShares(home),
  };
}


export function validateUserSettings(raw: unknown, where: string): UserSettings {
  const r = UserSettingsSchema.safeParse(raw ?? {});
  if (!r.success) {
    throw new SkiffError('invalid-settings', `invalid ${where}: ${describeZodError(r.error)}`, {
      hint: 'see `skiff init --help` for the accepted settings and their ranges',
      exitCode: ExitCode.usage,
    });
  }
  return r.data;
}

export async function readUserSettingsFile(file: string): Promise<UserSettings> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new SkiffError('config-unreadable', `cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, {
      hint: 'give the path of a readable YAML file',
      exitCode: ExitCode.usage,
    });
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (e) {
    throw new SkiffError('config-invalid', `config file ${file} is not valid YAML: ${(e as Error).message.split('\n')[0]}`, {
      hint: 'fix the YAML syntax',
      exitCode: ExitCode.usage,
    });
  }
  return validateUserSettings(raw, `config file ${file}`);
}

/** Turns validated settings (defaults merged in) into sizes and share entries. */
export function resolveSizes(s: { memory: string | number; disk: string | number }): { memoryMiB: number; diskGiB: number } {
  const memoryMiB = parseSizeMiB(s.memory, 'm', 'memory size');
  const diskMiB = parseSizeMiB(s.disk, 'g', 'disk size');
  if (memoryMiB < 512 || memoryMiB > 256 * 1024) {
    throw new SkiffError('invalid-size', `memory ${memoryMiB} MiB is out of range`, {
      hint: 'give between 512M and 256G',
      exitCode: ExitCode.usage,
    });
  }
  if (hostIs32Bit() && memoryMiB > MAX_MEMORY_32BIT_MIB) {
    throw new SkiffError('invalid-size', `memory ${memoryMiB} MiB is more than QEMU can give a guest on a 32-bit host`, {
      hint: `give at most ${MAX_MEMORY_32BIT_MIB}M, e.g. --memory 1G`,
      exitCode: ExitCode.usage,
    });
  }
  if (diskMiB % 1024 !== 0 || diskMiB < 2 * 1024 || diskMiB > 4096 * 1024) {
    throw new SkiffError('invalid-size', `disk size ${s.disk} is out of range or not whole GiB`, {
      hint: 'give a whole number of GiB between 2G and 4096G, e.g. 20G',
      exitCode: ExitCode.usage,
    });
  }
  return { memoryMiB, diskGiB: diskMiB / 1024 };
}

export async function loadMachineConfig(file: string, name: string): Promise<MachineConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new SkiffError('no-machine', `machine "${name}" does not exist`, {
        hint: name === 'default' ? 'run `skiff init` (or `skiff start`) first' : `run \`skiff init -m ${name}\` first`,
        exitCode: ExitCode.notFound,
      });
    }
    throw e;
  }
  const broken = (why: string) =>
    new SkiffError('config-corrupt', `the config of machine "${name}" (${file}) is corrupt: ${why}`, {
      hint: `fix it by hand, or remove the machine and its data with \`skiff delete --yes -m ${name}\``,
      exitCode: ExitCode.environment,
    });
  const config = parseYamlFile(text, MachineConfigSchema, broken);
  if (config.name !== name) throw broken(`it names machine "${config.name}"`);
  return config;
}

export async function saveMachineConfig(file: string, config: MachineConfig): Promise<void> {
  await writeYamlFile(file, 'skiff machine config; edit while the machine is stopped.', MachineConfigSchema, config);
}
