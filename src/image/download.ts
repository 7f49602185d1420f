import { open, stat, truncate } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import got, { type Response } from 'got';
import { ExitCode, SkiffError } from '../errors.js';
import { cacheWriteError } from './fs-errors.js';
import {
  cancelled,
  describeNetworkError,
  httpStatusError,
  isConnectFailure,
  isRequestError,
  unreachable,
} from './network-errors.js';
import { ProgressMeter, type ProgressListener } from './progress.js';

export interface NetworkOptions {
  /** Connect (and DNS) timeout: an unreachable host fails in this long. */
  connectTimeoutMs?: number;
  /** From request sent to response headers. */
  responseTimeoutMs?: number;
  /** A transfer that stalls this long is treated as a cut connection (and resumed). */
  idleTimeoutMs?: number;
  /** Total attempts for one download, the first included. */
  attempts?: number;
  /** First retry delay; doubles per retry, capped at 5 s. */
  retryDelayMs?: number;
  signal?: AbortSignal;
}

const DEFAULTS = {
  connectTimeoutMs: 5_000,
  responseTimeoutMs: 15_000,
  idleTimeoutMs: 30_000,
  attempts: 6,
  retryDelayMs: 500,
} as const;

function gotOptions(net: NetworkOptions) {
  const connect = net.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
  return {
    timeout: {
      lookup: connect,
      connect,
      secureConnect: connect,
      response: net.responseTimeoutMs ?? DEFAULTS.responseTimeoutMs,
      socket: net.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
    },
    retry: { limit: 0 },
    throwHttpErrors: false,
    // Byte offsets must refer to the file itself, never to a compressed encoding of it.
    decompress: false,
    signal: net.signal,
  };
}

/** Fetches a small text file (SHA256SUMS). Returns undefined on 404/410. */
export async function fetchText(url: string, net: NetworkOptions = {}): Promise<string | undefined> {
  let res: Response<string>;
  try {
    res = await got(url, { ...gotOptions(net), headers: { 'accept-encoding': 'identity' }, responseType: 'text' });
  } catch (e) {
    if (net.signal?.aborted) throw cancelled(url);
    throw unreachable(url, e);
  }
  if (res.statusCode === 404 || res.statusCode === 410) return undefined;
  if (res.statusCode < 200 || res.statusCode > 299) throw httpStatusError(url, res.statusCode);
  return res.body;
}

type Attempt =
  | { kind: 'complete' }
  | { kind: 'incomplete'; reason: string }
  | { kind: 'retry-status'; status: number }
  | { kind: 'restart'; reason: string };

/**
 * Downloads `url` into `part`, resuming from whatever `part` already holds
 * (HTTP Range). Connection failures mid-transfer are retried from the current
 * length, a bounded number of times. Returns when the server has sent the whole
 * file; verifying it is the caller's job. The .part is kept on failure so a later
 * run resumes; it never looks like a finished image.
 */
export async function downloadResumable(
  url: string,
  part: string,
  opts: NetworkOptions & { onProgress?: ProgressListener; cacheDir: string },
): Promise<void> {
  const attempts = opts.attempts ?? DEFAULTS.attempts;
  const meter = new ProgressMeter('download', opts.onProgress);
  let everAnswered = false;
  let lastReason = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) await backoff(attempt, opts, url);
    let result: Attempt;
    try {
      result = await attemptOnce(url, part, opts, meter, () => { everAnswered = true; });
    } catch (e) {
      if (opts.signal?.aborted) throw cancelled(url);
      if (e instanceof SkiffError) throw e;
      if (!isRequestError(e)) throw cacheWriteError(e, opts.cacheDir, true);
      // Nobody there at all: retrying only makes the user wait. Once the server has
      // answered, the same failure is more likely a blip, so it is retried.
      if (!everAnswered && isConnectFailure(e)) throw unreachable(url, e);
      lastReason = describeNetworkError(e);
      continue;
    }
    switch (result.kind) {
      case 'complete':
        return;
      case 'incomplete':
      case 'restart':
        lastReason = result.reason;
        if (result.kind === 'restart') await truncatePart(part, opts.cacheDir);
        continue;
      case 'retry-status':
        lastReason = `HTTP ${result.status}`;
        continue;
    }
  }
  const have = await sizeOf(part);
  throw new SkiffError(
    'download-failed',
    `download of ${url} failed after ${attempts} attempts: ${lastReason} (${have} bytes received)`,
    {
      hint: 'check your network and run again; the download resumes where it stopped',
      exitCode: ExitCode.network,
    },
  );
}

async function attemptOnce(
  url: string,
  part: string,
  net: NetworkOptions & { cacheDir: string },
  meter: ProgressMeter,
  answered: () => void,
): Promise<Attempt> {
  const offset = await sizeOf(part);
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  const stream = got.stream(url, { ...gotOptions(net), headers });

  const response = await new Promise<Response>((resolve, reject) => {
    stream.once('response', resolve);
    stream.once('error', reject);
  });
  answered();
  const status = response.statusCode;
  const length = headerNumber(response.headers['content-length']);

  let start: number;
  let total: number | undefined;
  if (status === 206) {
    const range = parseContentRange(response.headers['content-range']);
    if (!range || range.start !== offset) {
      stream.destroy();
      return { kind: 'restart', reason: 'server sent a range that does not continue the partial file' };
    }
    start = offset;
    total = range.total;
  } else if (status === 200) {
    start = 0; // the server ignored Range (or there was none): start over
    total = length;
    if (offset > 0) meter.reset();
  } else if (status === 416) {
    stream.destroy();
    const range = parseContentRange(response.headers['content-range']);
    if (offset > 0 && range?.total === offset) return { kind: 'complete' };
    return { kind: 'restart', reason: 'server refused the resume range' };
  } else {
    stream.destroy();
    if (status === 408 || status === 429 || status >= 500) return { kind: 'retry-status', status };
    throw httpStatusError(url, status);
  }

  let received = start;
  meter.update(received, total, true);
  // Written chunk by chunk, awaited: when the connection dies, every byte counted is on
  // disk, so the next attempt's Range starts exactly where this one stopped.
  let fh;
  try {
    fh = await open(part, start > 0 ? 'a' : 'w');
  } catch (e) {
    stream.destroy();
    throw e;
  }
  try {
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      await fh.write(buf);
      received += buf.length;
      meter.update(received, total);
    }
  } finally {
    stream.destroy();
    await fh.close();
  }
  meter.update(received, total, true);

  if (total !== undefined && received < total) {
    return { kind: 'incomplete', reason: `connection closed early at ${received} of ${total} bytes` };
  }
  if (total !== undefined && received > total) {
    return { kind: 'restart', reason: `server sent more than the ${total} bytes it announced` };
  }
  return { kind: 'complete' };
}

async function backoff(attempt: number, net: NetworkOptions, url: string): Promise<void> {
  const base = net.retryDelayMs ?? DEFAULTS.retryDelayMs;
  const delay = Math.min(5_000, base * 2 ** (attempt - 2));
  try {
    await sleep(delay, undefined, { signal: net.signal });
  } catch {
    throw cancelled(url);
  }
}

async function truncatePart(part: string, cacheDir: string): Promise<void> {
  try {
    await truncate(part, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw cacheWriteError(e, cacheDir, true);
  }
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

function headerNumber(v: string | string[] | undefined): number | undefined {
  if (typeof v !== 'string' || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

// `bytes START-END/TOTAL`, or `bytes *` + `/TOTAL` (unsatisfiable range).
export function parseContentRange(
  v: string | string[] | undefined,
): { start?: number; end?: number; total?: number } | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(v.trim());
  if (!m) return undefined;
  return {
    start: m[1] === undefined ? undefined : Number(m[1]),
    end: m[2] === undefined ? undefined : Number(m[2]),
    total: m[3] === '*' || m[3] === undefined ? undefined : Number(m[3]),
  };
}
