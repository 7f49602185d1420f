import cliProgress from 'cli-progress';
import type { ImageProgress } from '../image/progress.js';
import { formatBytes, formatDuration } from './format.js';

export interface DownloadProgress {
  onProgress: (p: ImageProgress) => void;
  stop(): void;
}

/** A bar only for a person watching: stderr is a terminal and output is not --json. */
export function progressWanted(opts: { json: boolean; stream?: NodeJS.WriteStream }): boolean {
  const stream = opts.stream ?? process.stderr;
  return !opts.json && stream.isTTY === true;
}

/**
 * Renders image progress (size, speed, ETA) to stderr. Disabled, it renders
 * nothing at all. The bar is drawn with plain characters and never colored,
 * so NO_COLOR terminals and logs captured from a TTY stay clean.
 */
export function createDownloadProgress(opts: {
  enabled: boolean;
  label: string;
  stream?: NodeJS.WritableStream;
}): DownloadProgress {
  if (!opts.enabled) return { onProgress: () => undefined, stop: () => undefined };

  let bar: cliProgress.SingleBar | undefined;
  let phase: ImageProgress['phase'] | undefined;

  const stop = (): void => {
    bar?.stop();
    bar = undefined;
    phase = undefined;
  };

  const onProgress = (p: ImageProgress): void => {
    if (p.phase !== phase) {
      stop();
      phase = p.phase;
      const label = p.phase === 'verify' ? `${opts.label}: verifying` : opts.label;
      bar = new cliProgress.SingleBar(
        {
          format: `${label} [{bar}] {percentage}% | {size} | {speed} | ETA {etaText}`,
          barCompleteChar: '#',
          barIncompleteChar: '-',
          barsize: 24,
          hideCursor: true,
          clearOnComplete: false,
          stream: opts.stream ?? process.stderr,
          fps: 10,
        },
        cliProgress.Presets.legacy,
      );
      bar.start(p.total ?? Math.max(p.transferred, 1), p.transferred, payload(p));
      return;
    }
    if (p.total !== undefined) bar?.setTotal(p.total);
    else if (bar && p.transferred > bar.getTotal()) bar.setTotal(p.transferred);
    bar?.update(p.transferred, payload(p));
  };

  return { onProgress, stop };
}

function payload(p: ImageProgress): Record<string, string> {
  const size = p.total === undefined
    ? formatBytes(p.transferred)
    : `${formatBytes(p.transferred)}/${formatBytes(p.total)}`;
  const eta = p.total !== undefined && p.bytesPerSecond > 0
    ? formatDuration((p.total - p.transferred) / p.bytesPerSecond)
    : '?';
  return { size, speed: `${formatBytes(p.bytesPerSecond)}/s`, etaText: eta };
}
