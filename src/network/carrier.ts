import { createHash } from 'node:crypto';

/**
 * What carries a network's frames between QEMUs: a UDP multicast group joined on
 * 127.0.0.1 (QEMU `-netdev socket,mcast=...,localaddr=127.0.0.1`), so frames never
 * leave the host. The group and port come from a hash of the skiff home and the
 * network's name, so two skiff homes on one host (a user's and a test's) do not
 * share a segment by accident. 239.0.0.0/8 is the administratively scoped range.
 */
export interface McastCarrier {
  group: string;
  port: number;
}

export function mcastCarrierFor(home: string, network: string): McastCarrier {
  const h = createHash('sha256').update(`${home}\0${network}`).digest();
  return { group: `239.${h[0]! % 256}.${h[1]!}.${1 + (h[2]! % 254)}`, port: 20000 + (h.readUInt16BE(3) % 40000) };
}
