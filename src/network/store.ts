import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import YAML from 'yaml';
import { z } from 'zod';
import { ExitCode, SkiffError } from '../errors.js';
import { describeZodError } from '../machine/config.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { NETWORK_NAME_RE, intnetField, ipv4Field, machineNameField, mcastGroupField, networkNameField, portField, subnetField } from './fields.js';

/** The facts of one private network (networks/NAME.yaml): who has which address, and what carries it. */
export const NetworkSchema = z.object({
  version: z.literal(1),
  name: networkNameField,
  subnet: subnetField,
  /** QEMU: the multicast group/port on 127.0.0.1 (see carrier.ts). */
  mcast: z.object({ group: mcastGroupField, port: portField }),
  /** VirtualBox: the internal network's name. */
  intnet: intnetField,
  /** machine name -> its address on the subnet (no prefix). */
  members: z.record(machineNameField, ipv4Field).default({}),
  createdAt: z.string(),
});
export type Network = z.infer<typeof NetworkSchema>;


export function validateNetworkName(name: string): string {
  if (!NETWORK_NAME_RE.test(name)) {
    throw new SkiffError('invalid-network', `invalid network name ${JSON.stringify(name)}`, {
      hint: 'use 1-28 characters: lowercase letters, digits, "-" and "_", starting with a letter or digit',
      exitCode: ExitCode.usage,
    });
  }
  return name;
}

export function networksDir(home: string): string {
  return path.join(home, 'networks');
}

export function networkFile(home: string, name: string): string {
  return path.join(networksDir(home), `${name}.yaml`);
}

/**
 * Runs fn holding the lock of all networks: address and subnet assignment read
 * every file and write one, and two `init`s must never hand out the same address.
 * A lock left by a crashed process goes stale after 10 s (proper-lockfile).
 */
export async function withNetworksLock<T>(home: string, fn: () => Promise<T>): Promise<T> {
  const dir = networksDir(home);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const release = await lockfile.lock(dir, {
    lockfilePath: path.join(dir, '.lock'),
    realpath: false,
    stale: 10_000,
    update: 2_000,
    retries: { retries: 300, minTimeout: 50, maxTimeout: 200 },
    onCompromised: () => {},
  });
  try {
    return await fn();
  } finally {
    await release().catch(() => {});
  }
}

export async function loadNetwork(home: string, name: string): Promise<Network | undefined> {
  const file = networkFile(home, name);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const broken = (why: string) =>
    new SkiffError('network-corrupt', `the file of network "${name}" (${file}) is corrupt: ${why}`, {
      hint: 'fix it by hand, or delete the machines on it and the file',
      exitCode: ExitCode.environment,
    });
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (e) {
    throw broken((e as Error).message.split('\n')[0] ?? 'bad YAML');
  }
  const r = NetworkSchema.safeParse(raw);
  if (!r.success) throw broken(describeZodError(r.error));
  if (r.data.name !== name) throw broken(`it names network "${r.data.name}"`);
  return r.data;
}

export async function saveNetwork(home: string, net: Network): Promise<void> {
  const valid = NetworkSchema.parse(net);
  const text = '# skiff private network; written by skiff init/delete.\n' + YAML.stringify(valid);
  await writeFileAtomic(networkFile(home, net.name), text, { mode: 0o600 });
}

export async function listNetworks(home: string): Promise<Network[]> {
  let files: string[];
  try {
    files = await readdir(networksDir(home));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const nets: Network[] = [];
  for (const f of files.filter((f) => f.endsWith('.yaml') && !f.startsWith('.')).sort()) {
    const n = await loadNetwork(home, f.slice(0, -'.yaml'.length));
    if (n) nets.push(n);
  }
  return nets;
}

export async function removeNetworkFile(home: string, name: string): Promise<void> {
  await rm(networkFile(home, name), { force: true });
}
