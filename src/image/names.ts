/** Image names per guest architecture. */
import type { Arch } from '../arch.js';

const DEBIAN_ARCH: Record<Arch, string> = { x86_64: 'amd64', aarch64: 'arm64' };

/** `skiff-amd64.iso` / `skiff-arm64.iso`: the name iso/build.sh writes and releases carry. */
export function imageFileName(arch: Arch): string {
  return `skiff-${DEBIAN_ARCH[arch]}.iso`;
}
