/** Image names and the default release location, per guest architecture. */

export type GuestArch = 'x86_64' | 'aarch64';

const DEBIAN_ARCH: Record<GuestArch, string> = { x86_64: 'amd64', aarch64: 'arm64' };

/** `skiff-amd64.iso` / `skiff-arm64.iso`: the name iso/build.sh writes and releases carry. */
export function imageFileName(arch: GuestArch): string {
  return `skiff-${DEBIAN_ARCH[arch]}.iso`;
}

export const RELEASE_BASE_URL = 'https://github.com/skiff-vm/skiff/releases/latest/download/';

/** The last-resort source: the published release asset for this architecture. */
export const DEFAULT_RELEASE_URL = releaseUrlFor('x86_64');

export function releaseUrlFor(arch: GuestArch): string {
  return RELEASE_BASE_URL + imageFileName(arch);
}
