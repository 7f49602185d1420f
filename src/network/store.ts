import { rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ExitCode, SkiffError } from '../errors.js';
import { withFileLock } from '../util/file-lock.js';
import { loadAllNamed, loadNamedYaml } from '../util/named-yaml.js';
import { writeYamlFile } from '../util/yaml-file.js';
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
export function withNetworksLock<T>(home: string, fn: () => Promise<T>): Promise<T> {
  // Held only for a read-modify-write of one small file: a minute of waiting means something is wrong.
  return withFileLock(path.join(networksDir(home), '.lock'), 'the private-network table', fn, { waitMs: 60_000 });
}

export async function loadNetwork(home: string, name: string): Promise<Network | undefined> {
  const file = networkFile(home, name);
  const broken = (why: string) =>
    new SkiffError('network-corrupt', `the file of network "${name}" (${file}) is corrupt: ${why}`, {
      hint: 'fix it by hand, or delete the machines on it and the file',
      exitCode: ExitCode.environment,
    });
  return loadNamedYaml(file, name, NetworkSchema, broken, 'network');
}

export async function saveNetwork(home: string, net: Network): Promise<void> {
  await writeYamlFile(networkFile(home, net.name), 'skiff private network; written by skiff init/delete.', NetworkSchema, net);
}

export function listNetworks(home: string): Promise<Network[]> {
  return loadAllNamed(networksDir(home), (name) => loadNetwork(home, name));
}

export async function removeNetworkFile(home: string, name: string): Promise<void> {
  await rm(networkFile(home, name), { force: true });
}
