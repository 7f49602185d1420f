import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ProgressMeter, type ImageProgress } from '../../src/image/progress.js';
import { formatBytes, formatDuration } from '../../src/ui/format.js';
import { createDownloadProgress, progressWanted } from '../../src/ui/progress-bar.js';

describe('ProgressMeter', () => {
  it('throttles reports and measures speed over recent samples', () => {
    let t = 0;
    const seen: ImageProgress[] = [];
    const meter = new ProgressMeter('download', (p) => seen.push(p), () => t);
    meter.update(1000, 10_000, true); // resumed: 1000 bytes were already there
    t = 50;
    meter.update(2000, 10_000); // throttled
    t = 1000;
    meter.update(3000, 10_000);
    expect(seen).toHaveLength(2);
    expect(seen[1]).toEqual({ phase: 'download', transferred: 3000, total: 10_000, bytesPerSecond: 2000 });
  });
  it('reports nothing without a listener and survives a restart from zero', () => {
    const quiet = new ProgressMeter('verify', undefined);
    quiet.update(5, 10, true);
    let t = 0;
    const seen: ImageProgress[] = [];
    const meter = new ProgressMeter('download', (p) => seen.push(p), () => t);
    meter.update(5000, 10_000, true);
    meter.reset();
    t = 500;
    meter.update(0, 10_000, true);
    t = 1000;
    meter.update(1000, 10_000, true);
    expect(seen.every((p) => p.bytesPerSecond >= 0)).toBe(true);
    expect(seen.at(-1)?.bytesPerSecond).toBe(2000);
  });
});

describe('format', () => {
  it('formats sizes and durations', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(200 * 1024 * 1024)).toBe('200.0 MB');
    expect(formatBytes(-1)).toBe('?');
    expect(formatDuration(42.4)).toBe('42s');
    expect(formatDuration(185)).toBe('3m05s');
    expect(formatDuration(3720)).toBe('1h02m');
    expect(formatDuration(Infinity)).toBe('?');
  });
});

function fakeTty(): { stream: PassThrough & { isTTY: boolean; columns: number }; text: () => string } {
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
  let out = '';
  stream.on('data', (c: Buffer) => { out += c.toString(); });
  return { stream, text: () => out };
}

describe('createDownloadProgress', () => {
  it('draws size, speed and ETA on a terminal, and a separate verify bar', () => {
    const { stream, text } = fakeTty();
    const bar = createDownloadProgress({ enabled: true, label: 'skiff-amd64.iso', stream });
    bar.onProgress({ phase: 'download', transferred: 1024 * 1024, total: 4 * 1024 * 1024, bytesPerSecond: 1024 * 1024 });
    bar.onProgress({ phase: 'download', transferred: 4 * 1024 * 1024, total: 4 * 1024 * 1024, bytesPerSecond: 1024 * 1024 });
    bar.onProgress({ phase: 'verify', transferred: 4 * 1024 * 1024, total: 4 * 1024 * 1024, bytesPerSecond: 0 });
    bar.stop();
    const out = text();
    expect(out).toContain('skiff-amd64.iso [');
    expect(out).toContain('1.0 MB/4.0 MB | 1.0 MB/s | ETA 3s');
    expect(out).toContain('skiff-amd64.iso: verifying');
    expect(out).not.toMatch(/\x1b\[3\dm/); // never colored
  });
  it('writes nothing when disabled, and is wanted only on a TTY without --json', () => {
    const { stream, text } = fakeTty();
    const bar = createDownloadProgress({ enabled: false, label: 'x', stream });
    bar.onProgress({ phase: 'download', transferred: 1, total: 2, bytesPerSecond: 1 });
    bar.stop();
    expect(text()).toBe('');
    const tty = { isTTY: true } as NodeJS.WriteStream;
    const pipe = { isTTY: false } as NodeJS.WriteStream;
    expect(progressWanted({ json: false, stream: tty })).toBe(true);
    expect(progressWanted({ json: true, stream: tty })).toBe(false);
    expect(progressWanted({ json: false, stream: pipe })).toBe(false);
  });
});
