import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { SshConnection } from '../../ssh/connect.js';
import { openStreamLocal } from '../forward.js';

/**
 * HTTP/1.1 to the guest's engine socket, each request on its own streamlocal
 * channel. node:http does the protocol (chunked event stream included); its
 * connection is the ssh2 channel, which is a Duplex.
 */
function request(conn: SshConnection, socketPath: string, urlPath: string): http.ClientRequest {
  return http.request({
    method: 'GET',
    path: urlPath,
    // The Host header is required by HTTP/1.1; the engine ignores its value.
    host: 'docker',
    headers: { Accept: 'application/json' },
    createConnection: ((_: unknown, done: (err: Error | null, stream: Duplex) => void) => {
      openStreamLocal(conn, socketPath).then(
        (channel) => done(null, channel),
        (e: unknown) => done(e instanceof Error ? e : new Error(String(e)), undefined as unknown as Duplex),
      );
      return undefined;
    }) as unknown as http.RequestOptions['createConnection'],
  });
}

/** GET a JSON document from the engine. */
export function engineGet(conn: SshConnection, socketPath: string, urlPath: string, timeoutMs = 30_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(conn, socketPath, urlPath);
    const timer = setTimeout(() => req.destroy(new Error(`engine did not answer GET ${urlPath} in ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        if ((res.statusCode ?? 0) >= 300) {
          reject(new EngineHttpError(res.statusCode ?? 0, `engine answered GET ${urlPath} with ${res.statusCode}: ${body.trim().slice(0, 200)}`));
          return;
        }
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new Error(`engine answered GET ${urlPath} with something that is not JSON`));
        }
      });
    });
    req.end();
  });
}

export class EngineHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface EventStream {
  /** Resolves once the engine accepted the subscription: events from then on are delivered. */
  ready: Promise<void>;
  close(): void;
}

/**
 * Follows the engine's container and service events: `onChunk` gets the raw text as it
 * arrives, `onEnd` is called once when the stream ends for any reason other
 * than `close()`.
 */
export function followEvents(
  conn: SshConnection,
  socketPath: string,
  onChunk: (text: string) => void,
  onEnd: (why: string) => void,
  subscribeTimeoutMs = 30_000,
): EventStream {
  const filters = encodeURIComponent(JSON.stringify({ type: ['container', 'service'] }));
  const req = request(conn, socketPath, `/events?filters=${filters}`);
  let closed = false;
  let ended = false;
  const end = (why: string): void => {
    if (closed || ended) return;
    ended = true;
    onEnd(why);
  };
  let cancel: (e: Error) => void = () => undefined;
  let timer: NodeJS.Timeout | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    cancel = reject;
    timer = setTimeout(() => req.destroy(new Error(`the engine did not answer the event subscription in ${subscribeTimeoutMs} ms`)), subscribeTimeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
      end(e.message);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      if ((res.statusCode ?? 0) >= 300) {
        const e = new EngineHttpError(res.statusCode ?? 0, `engine refused the event stream: ${res.statusCode}`);
        reject(e);
        res.resume();
        end(e.message);
        return;
      }
      // The engine sends the headers once it has subscribed, so nothing after this is missed.
      resolve();
      res.setEncoding('utf8');
      res.on('data', (d: string) => onChunk(d));
      res.on('error', (e) => end(e.message));
      res.on('end', () => end('the engine ended the event stream'));
      res.on('close', () => end('the event stream closed'));
    });
  });
  // Consumers await `ready`; a rejection nobody awaits must not take the agent down.
  ready.catch(() => undefined);
  req.end();
  return {
    ready,
    close() {
      closed = true;
      clearTimeout(timer);
      // Whoever waits for the subscription must not wait for ever: the work queue waits with them.
      cancel(new Error('event stream closed'));
      req.destroy();
    },
  };
}
