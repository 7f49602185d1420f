import http from 'node:http';
import { ExitCode, SkiffError } from '../errors.js';

/** One Docker Engine API call over a machine's forwarded socket; JSON in, JSON out. */
export async function engineCall(
  socketPath: string,
  method: 'GET' | 'POST' | 'DELETE',
  urlPath: string,
  body?: unknown,
  timeoutMs = 60_000,
): Promise<{ status: number; json: unknown }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
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
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('error', reject);
        res.on('end', () => {
          let json: unknown = text;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            // Some answers (POST /swarm/join) are plain text or empty.
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer to ${method} ${urlPath} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Like engineCall, but a non-2xx answer is a SkiffError quoting the engine's message. */
export async function engineOk(socketPath: string, machine: string, method: 'GET' | 'POST' | 'DELETE', urlPath: string, body?: unknown): Promise<unknown> {
  let r: { status: number; json: unknown };
  try {
    r = await engineCall(socketPath, method, urlPath, body);
  } catch (e) {
    throw new SkiffError('engine-unreachable', `cannot reach the Docker engine of machine "${machine}": ${(e as Error).message}`, {
      hint: `start it with \`skiff start -m ${machine}\` (or \`skiff swarm up\`)`,
      exitCode: ExitCode.environment,
    });
  }
  if (r.status >= 300) {
    const msg = (r.json as { message?: string } | undefined)?.message ?? String(r.json ?? '').trim();
    throw new SkiffError('swarm-api', `${machine}: ${method} ${urlPath.split('?')[0]} failed (${r.status}): ${msg.split('\n')[0]}`, {
      hint: `see \`skiff ssh -m ${machine} -- tail /var/log/dockerd.log\``,
    });
  }
  return r.json;
}
