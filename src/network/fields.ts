import { z } from 'zod';
import { validateMachineName } from '../layout/paths.js';

/**
 * The fields of a network as the files (networks/NAME.yaml, a machine's config)
 * hold them. They end up in QEMU's -netdev argument and VBoxManage's --intnet, so
 * a hand-edited file must not be able to slip in a comma (another QEMU option), a
 * path or a space: each is held to the exact shape skiff writes.
 */

// The same charset as machine names: a network named S makes machines S-1, S-2 ...
export const NETWORK_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,27}$/;

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_RE = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);
/** carrier.ts draws groups from 239.0.0.0/8, the administratively scoped range. */
const MCAST_RE = new RegExp(`^239(\\.${OCTET}){3}$`);
/** "skiff-NAME-TAG" as membership.ts makes it; the charset of names, a little longer. */
const INTNET_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const SUBNET_RE = new RegExp(`^198\\.18\\.${OCTET}\\.0/24$`);

export const networkNameField = z.string().regex(NETWORK_NAME_RE, 'must be 1-28 of a-z, 0-9, "-", "_"');
export const ipv4Field = z.string().regex(IPV4_RE, 'must be an IPv4 address');
export const mcastGroupField = z.string().regex(MCAST_RE, 'must be an IPv4 multicast group in 239.0.0.0/8');
export const portField = z.number().int().min(1).max(65535);
export const intnetField = z.string().regex(INTNET_RE, 'must be 1-64 of a-z, 0-9, "-", "_"');
export const subnetField = z.string().regex(SUBNET_RE, 'must be a /24 of 198.18.0.0/16');
export const machineNameField = z.string().refine((n) => {
  try {
    validateMachineName(n);
    return true;
  } catch {
    return false;
  }
}, 'must be a machine name');
