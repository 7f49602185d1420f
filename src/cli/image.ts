import type { VmConfig } from '../machine/config.js';
import { cacheDir } from '../layout/paths.js';
import { releaseImage } from '../image/release.js';
import { defaultRepoIsoDir, ImageStore, type ResolvedImage } from '../image/store.js';
import { createDownloadProgress } from '../ui/progress-bar.js';
import type { Output } from '../ui/output.js';

/** Resolves the guest image with a progress bar on a terminal. */
export async function resolveImageWithProgress(
  home: string,
  out: Output,
  source: { iso?: string; checksum?: string; arch: VmConfig['arch'] },
): Promise<ResolvedImage> {
  const progress = createDownloadProgress({ enabled: out.interactive, label: 'guest image' });
  const store = new ImageStore({
    cacheDir: cacheDir(home),
    repoIsoDir: defaultRepoIsoDir(),
    release: () => releaseImage(source.arch),
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
