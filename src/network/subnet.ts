/**
 * Private networks take /24s from 198.18.0.0/16 (RFC 2544's benchmarking range,
 * never routed on the internet). Not 10/8: QEMU's user network is 10.0.2.0/24 and
 * Swarm's default address pool is 10.0.0.0/8 (ingress 10.0.0.0/24, overlays
 * 10.0.1.0/24 ...), and an advertise address inside an overlay's subnet breaks
 * it. Not 172.16/12 or 192.168/16: Docker's default bridge pools live there.
 */
export const SUBNET_BASE = [198, 18] as const;
export const PREFIX = 24;
/** .1 is left for a future host-side gateway; machines get .2 upward. */
export const FIRST_HOST = 2;
export const LAST_HOST = 254;

export function subnetFor(index: number): string {
  return `${SUBNET_BASE[0]}.${SUBNET_BASE[1]}.${index}.0/${PREFIX}`;
}

/** "198.18.3.0/24" -> 3. */
export function subnetIndex(subnet: string): number {
  const m = /^198\.18\.(\d{1,3})\.0\/24$/.exec(subnet);
  if (!m) throw new Error(`not a skiff subnet: ${subnet}`);
  return Number(m[1]);
}

export function hostAddress(subnet: string, host: number): string {
  return `${SUBNET_BASE[0]}.${SUBNET_BASE[1]}.${subnetIndex(subnet)}.${host}`;
}

/** The lowest host number not in `taken` (last octets), or undefined when full. */
export function freeHost(taken: Iterable<number>): number | undefined {
  const used = new Set(taken);
  for (let h = FIRST_HOST; h <= LAST_HOST; h++) if (!used.has(h)) return h;
  return undefined;
}

/** The lowest /24 index not used by another network, or undefined when all 256 are. */
export function freeSubnetIndex(taken: Iterable<number>): number | undefined {
  const used = new Set(taken);
  for (let i = 0; i < 256; i++) if (!used.has(i)) return i;
  return undefined;
}
