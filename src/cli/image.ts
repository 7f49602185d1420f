import { ExitCode, SkiffError } from '../errors.js';
import type { MachineConfig } from '../machine/config.js';
import { cacheDir } from '../machine/paths.js';
import { releaseUrlFor } from '../image/names.js';
import { defaultRepoIsoDir, ImageStore, type ResolvedImage } from '../image/store.js';
import { createDownloadProgress } from '../ui/progress-bar.js';
import type { Output } from '../ui/output.js';

/** Resolves the guest image with a progress bar on a terminal. */
export async function resolveImageWithProgress(
  home: string,
  out: Output,
  source: { iso?: string; checksum?: string; arch: MachineConfig['arch'] },
): Promise<ResolvedImage> {
  checkImageUrl(source.iso, '--iso');
  if (source.iso === undefined) checkImageUrl(process.env.SKIFF_ISO_URL, 'SKIFF_ISO_URL');
  const progress = createDownloadProgress({ enabled: out.interactive, label: 'guest image' });
  const store = new ImageStore({
    cacheDir: cacheDir(home),
    repoIsoDir: defaultRepoIsoDir(),
    releaseUrl: releaseUrlFor(source.arch),
    arch: source.arch,
    onProgress: progress.onProgress,
  });
  try {
    return await store.resolve({
      ...(source.iso !== undefined ? { iso: source.iso } : {}),
      ...(source.checksum !== undefined ? { checksum: source.checksum } : {}),
    });
  } finally {
    progress.stop();
  }
}

/** A malformed URL is the user's typo, reported as such before anything is fetched. */
function checkImageUrl(value: string | undefined, where: string): void {
  if (value === undefined || !/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return;
  let ok = false;
  try {
    ok = new URL(value).protocol === 'file:' || new URL(value).host !== '';
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new SkiffError('invalid-url', `invalid image URL ${JSON.stringify(value)} (from ${where})`, {
      hint: 'give a complete http(s):// URL, or a local path',
      exitCode: ExitCode.usage,
    });
  }
}
