import http from 'node:http';

export type EngineMethod = 'GET' | 'POST' | 'DELETE';

/**
 * One Docker Engine API call on a unix socket (the machine's forwarded socket):
 * a JSON body out when given, the answer's status and text back. Every engine
 * call of skiff goes through here.
 */
export function engineRequest(
  socketPath: string,
  urlPath: string,
  opts: { method?: EngineMethod; body?: unknown; timeoutMs?: number } = {},
): Promise<{ status: number; body: string }> {
  const method = opts.method ?? 'GET';
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        method,
        path: urlPath,
        agent: false,
        headers: { Host: 'docker', ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer to ${method} ${urlPath} from ${socketPath} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function enginePing(socketPath: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const r = await engineRequest(socketPath, '/_ping', { timeoutMs });
    return r.status === 200 && r.body === 'OK';
  } catch {
    return false;
  }
}

export async function engineVersion(socketPath: string, timeoutMs = 3000): Promise<{ version: string; apiVersion: string } | undefined> {
  try {
    const r = await engineRequest(socketPath, '/version', { timeoutMs });
    if (r.status !== 200) return undefined;
    const v = JSON.parse(r.body) as { Version?: string; ApiVersion?: string };
    return { version: v.Version ?? 'unknown', apiVersion: v.ApiVersion ?? 'unknown' };
  } catch {
    return undefined;
  }
}
