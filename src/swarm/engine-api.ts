import { ExitCode, SkiffError } from '../errors.js';
import { engineRequest, type EngineMethod } from '../machine/engine.js';

/**
 * One Engine API call of `skiff swarm` (through machine/engine.ts's client): JSON
 * back, and a failure is a SkiffError naming the machine and quoting the engine.
 */
export async function engineOk(socketPath: string, machine: string, method: EngineMethod, urlPath: string, body?: unknown, timeoutMs?: number): Promise<unknown> {
  let r: { status: number; body: string };
  try {
    r = await engineRequest(socketPath, urlPath, { method, body, ...(timeoutMs ? { timeoutMs } : {}) });
  } catch (e) {
    throw new SkiffError('engine-unreachable', `cannot reach the Docker engine of machine "${machine}": ${(e as Error).message}`, {
      hint: `start it with \`skiff start -m ${machine}\` (or \`skiff swarm up\`)`,
      exitCode: ExitCode.environment,
    });
  }
  let json: unknown = r.body === '' ? undefined : r.body;
  try {
    if (r.body !== '') json = JSON.parse(r.body);
  } catch {
    // Some answers (POST /swarm/join) are plain text.
  }
  if (r.status >= 300) {
    const msg = (json as { message?: string } | undefined)?.message ?? String(json ?? '').trim();
    throw new SkiffError('swarm-api', `${machine}: ${method} ${urlPath.split('?')[0]} failed (${r.status}): ${msg.split('\n')[0]}`, {
      hint: `see \`skiff ssh -m ${machine} -- tail /var/log/dockerd.log\``,
    });
  }
  return json;
}
