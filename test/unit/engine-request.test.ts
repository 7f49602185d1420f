import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enginePing, engineRequest } from '../../src/machine/engine.js';
import { engineOk } from '../../src/swarm/engine-api.js';

/** The one engine client (machine/engine.ts) against a fake engine on a unix socket. */
let dir: string;
let sock: string;
let server: http.Server;
const seen: Array<{ method: string; url: string; type?: string; body: string }> = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-eng-'));
  sock = path.join(dir, 'docker.sock');
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, ...(req.headers['content-type'] ? { type: req.headers['content-type'] } : {}), body });
      if (req.url === '/_ping') return res.end('OK');
      if (req.url === '/swarm/init') return res.end(JSON.stringify('node-id'));
      if (req.url === '/swarm/join') return res.end('');
      res.statusCode = 503;
      res.end(JSON.stringify({ message: 'This node is not a swarm manager.\nmore' }));
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('engine client', () => {
  it('sends a method and a JSON body, and GETs for ping', async () => {
    expect(await enginePing(sock)).toBe(true);
    const r = await engineRequest(sock, '/swarm/init', { method: 'POST', body: { AdvertiseAddr: '198.18.0.2' } });
    expect(r).toEqual({ status: 200, body: '"node-id"' });
    expect(seen.at(-1)).toEqual({ method: 'POST', url: '/swarm/init', type: 'application/json', body: '{"AdvertiseAddr":"198.18.0.2"}' });
  });

  it('engineOk parses JSON, accepts an empty answer and turns a failure into one line naming the machine', async () => {
    expect(await engineOk(sock, 's-1', 'POST', '/swarm/init', {})).toBe('node-id');
    expect(await engineOk(sock, 's-2', 'POST', '/swarm/join', {})).toBeUndefined();
    await expect(engineOk(sock, 's-1', 'GET', '/nodes?x=1')).rejects.toMatchObject({
      code: 'swarm-api',
      message: 's-1: GET /nodes failed (503): This node is not a swarm manager.',
    });
    await expect(engineOk(path.join(dir, 'none.sock'), 's-3', 'GET', '/info')).rejects.toMatchObject({ code: 'engine-unreachable' });
  });
});
