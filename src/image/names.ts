/** Image names per guest architecture. */

export type GuestArch = 'x86_64' | 'aarch64';

const DEBIAN_ARCH: Record<GuestArch, string> = { x86_64: 'amd64', aarch64: 'arm64' };

/** `skiff-amd64.iso` / `skiff-arm64.iso`: the name iso/build.sh writes and releases carry. */
export function imageFileName(arch: GuestArch): string {
  return `skiff-${DEBIAN_ARCH[arch]}.iso`;
}
