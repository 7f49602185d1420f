import { createHash } from 'node:crypto';

/**
 * Private-network NICs get a locally administered MAC with this prefix ("SK"):
 * the guest's DHCP script skips these NICs and /usr/lib/skiff/private-net finds
 * its NIC by the full MAC, because interface names depend on probe order.
 */
export const PRIVATE_MAC_PREFIX = '02:53:4b';

/** A stable MAC for machine NAME on network NET (the same at every start). */
export function privateMac(network: string, machine: string): string {
  const h = createHash('sha256').update(`${network}\0${machine}`).digest();
  return [PRIVATE_MAC_PREFIX, ...[h[0]!, h[1]!, h[2]!].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}
