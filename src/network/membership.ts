import { createHash } from 'node:crypto';
import { ExitCode, SkiffError } from '../errors.js';
import { mcastCarrierFor } from './carrier.js';
import { privateMac } from './mac.js';
import { listNetworks, loadNetwork, removeNetworkFile, saveNetwork, validateNetworkName, withNetworksLock, type Network } from './store.js';
import { PREFIX, freeHost, freeSubnetIndex, hostAddress, subnetFor, subnetIndex } from './subnet.js';

/** What a machine's config records of its network: all the driver and the guest need. */
export interface Membership {
  name: string;
  address: string;
  prefix: number;
  mac: string;
  mcastGroup: string;
  mcastPort: number;
  intnet: string;
}

function membershipOf(net: Network, machine: string, address: string): Membership {
  return {
    name: net.name,
    address,
    prefix: PREFIX,
    mac: privateMac(net.name, machine),
    mcastGroup: net.mcast.group,
    mcastPort: net.mcast.port,
    intnet: net.intnet,
  };
}

function newNetwork(home: string, name: string, others: Network[]): Network {
  const index = freeSubnetIndex(others.map((n) => subnetIndex(n.subnet)));
  if (index === undefined) {
    throw new SkiffError('networks-full', 'every private subnet (198.18.0.0/16 in /24s) is taken', {
      hint: 'remove a network you no longer use (skiff swarm rm, or delete its machines)',
      exitCode: ExitCode.conflict,
    });
  }
  const tag = createHash('sha256').update(home).digest('hex').slice(0, 8);
  return {
    version: 1,
    name,
    subnet: subnetFor(index),
    mcast: mcastCarrierFor(home, name),
    intnet: `skiff-${name}-${tag}`,
    members: {},
    createdAt: new Date().toISOString(),
  };
}

/**
 * Puts machine MACHINE on network NAME (created if new) and returns its place
 * there; a machine already on it keeps its address. Under the networks lock, so
 * concurrent inits get distinct addresses.
 */
export async function joinNetwork(home: string, name: string, machine: string): Promise<Membership> {
  validateNetworkName(name);
  return withNetworksLock(home, async () => {
    const all = await listNetworks(home);
    const net = all.find((n) => n.name === name) ?? newNetwork(home, name, all);
    let address = net.members[machine];
    if (address === undefined) {
      const taken = Object.values(net.members).map((a) => Number(a.split('.')[3]));
      const host = freeHost(taken);
      if (host === undefined) {
        throw new SkiffError('network-full', `network "${name}" has no free address left`, {
          hint: 'delete a machine on it, or use another network',
          exitCode: ExitCode.conflict,
        });
      }
      address = hostAddress(net.subnet, host);
      net.members[machine] = address;
      await saveNetwork(home, net);
    }
    return membershipOf(net, machine, address);
  });
}

/** Frees every address MACHINE holds (delete calls it even when the machine's config is unreadable). */
export async function leaveNetworks(home: string, machine: string): Promise<void> {
  await withNetworksLock(home, async () => {
    for (const net of await listNetworks(home)) await dropMember(home, net, machine);
  });
}

/** Frees MACHINE's address on network NAME only (a swarm's cleanup must not touch its other networks). */
export async function leaveNetwork(home: string, name: string, machine: string): Promise<void> {
  validateNetworkName(name);
  await withNetworksLock(home, async () => {
    const net = await loadNetwork(home, name);
    if (net) await dropMember(home, net, machine);
  });
}

/** Under the networks lock. A network left without members is removed, so its /24 is free again. */
async function dropMember(home: string, net: Network, machine: string): Promise<void> {
  if (net.members[machine] === undefined) return;
  delete net.members[machine];
  if (Object.keys(net.members).length === 0) await removeNetworkFile(home, net.name);
  else await saveNetwork(home, net);
}

/** Deletes network NAME's file; refuses while machines still hold addresses on it. */
export async function removeNetwork(home: string, name: string): Promise<boolean> {
  return withNetworksLock(home, async () => {
    const net = await loadNetwork(home, name);
    if (!net) return false;
    const left = Object.keys(net.members);
    if (left.length > 0) {
      throw new SkiffError('network-in-use', `network "${name}" still has machines: ${left.join(', ')}`, {
        hint: `delete them first (skiff delete -y -m ${left[0]})`,
        exitCode: ExitCode.conflict,
      });
    }
    await removeNetworkFile(home, name);
    return true;
  });
}
