import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Machine } from '../../src/machine/machine.js';
import { converge } from '../../src/swarm/converge.js';

/**
 * converge against fake engines on unix sockets: a manager that reports "pending"
 * (dockerd up, its swarm still starting after a reboot) is waited for, never told
 * to leave.
 */
let dir: string;
const servers: http.Server[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-conv-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  await rm(dir, { recursive: true, force: true });
});

type Calls = string[];
async function fakeEngine(name: string, info: () => unknown, nodes: unknown[] = []): Promise<{ m: Machine; calls: Calls }> {
  const calls: Calls = [];
  const sock = path.join(dir, `${name}.sock`);
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      calls.push(`${req.method} ${req.url}`);
      if (req.url === '/info') return res.end(JSON.stringify(info()));
      if (req.url === '/nodes') return res.end(JSON.stringify(nodes));
      res.statusCode = 500;
      res.end(JSON.stringify({ message: 'unexpected in this test' }));
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(sock, r));
  const m = { name, paths: { dockerSocket: sock }, config: { network: { name: 's', address: '198.18.0.2' } } } as unknown as Machine;
  return { m, calls };
}

const node = (id: string, hostname: string) => ({ ID: id, Description: { Hostname: hostname }, Spec: { Role: 'worker' }, Status: { State: 'ready' } });

describe('converge with a pending manager', () => {
  it('polls /info until the manager is active, then plans nothing', async () => {
    let mgrReads = 0;
    const mgr = await fakeEngine(
      's-1',
      () =>
        ++mgrReads <= 2
          ? { Swarm: { LocalNodeState: 'pending', NodeID: 'M', ControlAvailable: false, Cluster: { ID: 'C' } } }
          : { Swarm: { LocalNodeState: 'active', NodeID: 'M', ControlAvailable: true, Cluster: { ID: 'C' }, RemoteManagers: [{ NodeID: 'M' }] } },
      [node('M', 's-1'), node('W', 's-2')],
    );
    const wkr = await fakeEngine('s-2', () => ({ Swarm: { LocalNodeState: 'active', NodeID: 'W', ControlAvailable: false, RemoteManagers: [{ NodeID: 'M' }] } }));
    const said: string[] = [];
    const addresses = async () => {
      throw new Error('a healthy swarm needs no addresses');
    };
    const r = await converge({ swarm: 's', manager: mgr.m, workers: [wkr.m], addresses, progress: (t) => said.push(t) });
    expect(r.steps).toEqual([]);
    expect(mgrReads).toBe(3);
    expect(said).toEqual(['waiting for the swarm to come up on s-1']);
    expect([...mgr.calls, ...wkr.calls].filter((c) => c.startsWith('POST'))).toEqual([]);
    // The last reading is handed back, so a healthy swarm needs no second look.
    expect(r.unchanged?.nodes.map((n) => n.id)).toEqual(['M', 'W']);
  });
});
