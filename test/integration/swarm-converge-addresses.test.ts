import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Machine } from '../../src/machine/machine.js';
import { converge, type SwarmAddresses } from '../../src/swarm/converge.js';

/**
 * converge against fake engines on unix sockets: the addresses it is handed are
 * what init and join send (a swarm of existing machines listens on 0.0.0.0 and
 * advertises the chosen address), and they are asked for only when a node must
 * init or join.
 */
let dir: string;
const servers: http.Server[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-convaddr-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  await rm(dir, { recursive: true, force: true });
});

interface Engine {
  m: Machine;
  /** Every request that changes something, as "METHOD URL" and its body. */
  posts: Array<{ url: string; body: unknown }>;
}

/** An engine outside any swarm that joins or inits when told, under host name `hostname`. */
async function fakeEngine(name: string, hostname: string, id: string, swarm: { managerId: string; nodes: unknown[] }): Promise<Engine> {
  const posts: Engine['posts'] = [];
  let state = 'inactive';
  let manager = false;
  const sock = path.join(dir, `${name}.sock`);
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const url = req.url ?? '';
      if (req.method !== 'GET') posts.push({ url: `${req.method} ${url}`, body: text ? JSON.parse(text) : undefined });
      if (req.method === 'DELETE') return res.end();
      if (url === '/info') {
        return res.end(
          JSON.stringify({
            Name: hostname,
            Swarm: { LocalNodeState: state, NodeID: state === 'active' ? id : '', ControlAvailable: manager, RemoteManagers: state === 'active' ? [{ NodeID: swarm.managerId }] : [] },
          }),
        );
      }
      if (url === '/swarm/init') {
        state = 'active';
        manager = true;
        return res.end(JSON.stringify(id));
      }
      if (url === '/swarm/join') {
        state = 'active';
        return res.end();
      }
      if (url === '/swarm') return res.end(JSON.stringify({ JoinTokens: { Worker: 'SWMTKN-w' } }));
      if (url === '/nodes') return res.end(JSON.stringify(swarm.nodes));
      res.statusCode = 500;
      res.end(JSON.stringify({ message: `unexpected ${req.method} ${url}` }));
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(sock, r));
  return { m: { name, paths: { dockerSocket: sock }, config: {} } as unknown as Machine, posts };
}

describe('converge with the addresses it is given', () => {
  it("init and join send them; a worker's stale entry is found under its host name, not its machine name", async () => {
    const nodes = [
      { ID: 'M', Description: { Hostname: 'mgr-host' }, Spec: { Role: 'manager' }, Status: { State: 'ready' } },
      { ID: 'W', Description: { Hostname: 'wkr-host' }, Spec: { Role: 'worker' }, Status: { State: 'ready' } },
      { ID: 'OLD', Description: { Hostname: 'wkr-host' }, Spec: { Role: 'worker' }, Status: { State: 'down' } },
    ];
    const swarm = { managerId: 'M', nodes };
    const mgr = await fakeEngine('a', 'mgr-host', 'M', swarm);
    const wkr = await fakeEngine('b', 'wkr-host', 'W', swarm);
    let asked = 0;
    const addrs: SwarmAddresses = {
      manager: { advertise: '192.168.1.20', listen: '0.0.0.0:2377' },
      workers: { b: { advertise: '192.168.1.21', listen: '0.0.0.0:2377' } },
    };
    const r = await converge({ swarm: 'lab', manager: mgr.m, workers: [wkr.m], addresses: async () => (asked++, addrs), progress: () => {} });
    expect(asked).toBe(1);
    expect(r.steps).toEqual([
      { kind: 'init', machine: 'a' },
      { kind: 'join', machine: 'b' },
    ]);
    expect(mgr.posts[0]).toEqual({
      url: 'POST /swarm/init',
      body: { ListenAddr: '0.0.0.0:2377', AdvertiseAddr: '192.168.1.20', DataPathAddr: '192.168.1.20', DefaultAddrPool: ['10.200.0.0/16'], SubnetSize: 24 },
    });
    expect(wkr.posts[0]).toEqual({
      url: 'POST /swarm/join',
      body: { ListenAddr: '0.0.0.0:2377', AdvertiseAddr: '192.168.1.21', DataPathAddr: '192.168.1.21', RemoteAddrs: ['192.168.1.20:2377'], JoinToken: 'SWMTKN-w' },
    });
    // The worker rejoined under a new ID: its old entry goes.
    expect(mgr.posts.map((p) => p.url)).toEqual(['POST /swarm/init', 'DELETE /nodes/OLD?force=true']);
  });
});
