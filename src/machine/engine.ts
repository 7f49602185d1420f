import http from 'node:http';

/** A GET against the Docker API on a unix socket; resolves with status and body. */
export function engineGet(socketPath: string, urlPath: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: urlPath, timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${socketPath} within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export async function enginePing(socketPath: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const r = await engineGet(socketPath, '/_ping', timeoutMs);
    return r.status === 200 && r.body === 'OK';
  } catch {
    return false;
  }
}

export async function engineVersion(socketPath: string, timeoutMs = 3000): Promise<{ version: string; apiVersion: string } | undefined> {
  try {
    const r = await engineGet(socketPath, '/version', timeoutMs);
    if (r.status !== 200) return undefined;
    const v = JSON.parse(r.body) as { Version?: string; ApiVersion?: string };
    return { version: v.Version ?? 'unknown', apiVersion: v.ApiVersion ?? 'unknown' };
  } catch {
    return undefined;
  }
}
