import { RequestError, TimeoutError } from 'got';
import { ExitCode, SkiffError, errorMessage } from '../errors.js';

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const CONNECT_TIMEOUT_EVENTS = new Set(['lookup', 'connect', 'secureConnect']);

export function isRequestError(e: unknown): e is RequestError {
  return e instanceof RequestError;
}

/** The server could not be reached at all (as opposed to a transfer that broke). */
export function isConnectFailure(e: unknown): boolean {
  if (e instanceof TimeoutError) return CONNECT_TIMEOUT_EVENTS.has(e.event);
  return isRequestError(e) && CONNECT_CODES.has(e.code);
}

/** A short reason for a network failure, for a one-line message. */
export function describeNetworkError(e: unknown): string {
  if (e instanceof TimeoutError) return `timed out (${e.event})`;
  const code = (e as { code?: string } | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED': return 'connection refused';
    case 'ENOTFOUND': return 'host not found';
    case 'EAI_AGAIN': return 'name lookup failed';
    case 'EHOSTUNREACH': case 'ENETUNREACH': return 'network unreachable';
    case 'ECONNRESET': return 'connection reset';
    case 'ERR_STREAM_PREMATURE_CLOSE': return 'connection closed early';
    default: return errorMessage(e);
  }
}

export function unreachable(url: string, e: unknown): SkiffError {
  return new SkiffError('unreachable', `cannot reach ${hostOf(url)}: ${describeNetworkError(e)}`, {
    hint: 'check the URL and your network, or pass a local image with --iso PATH',
    exitCode: ExitCode.network,
    cause: e,
  });
}

export function httpStatusError(url: string, status: number): SkiffError {
  const notFound = status === 404 || status === 410;
  return new SkiffError(
    notFound ? 'not-found' : 'http-error',
    notFound ? `${url} not found (HTTP ${status})` : `${url} answered HTTP ${status}`,
    {
      hint: notFound ? 'check the URL given with --iso or SKIFF_ISO_URL' : 'try again later, or pass a local image with --iso PATH',
      exitCode: notFound ? ExitCode.notFound : ExitCode.network,
    },
  );
}

export function cancelled(url: string): SkiffError {
  return new SkiffError('cancelled', `download of ${url} cancelled`, {
    hint: 'run again to resume it',
    exitCode: ExitCode.failure,
  });
}

function hostOf(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}
