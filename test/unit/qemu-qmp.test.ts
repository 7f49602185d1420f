import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QmpClient, QmpError, qmpOnce, type QmpEvent } from '../../src/drivers/qemu/qmp.js';

/** A scripted QMP server: greets, then answers each command with `reply(cmd)`. */
function fakeQmp(
  sock: string,
  reply: (cmd: { execute: string; arguments?: unknown; id?: unknown }, conn: net.Socket) => unknown,
  opts: { greet?: boolean } = {},
): Promise<{ server: net.Server; received: string[] }> {
  const received: string[] = [];
  const server = net.createServer((c) => {
    if (opts.greet !== false) c.write(JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 } }, capabilities: [] } }) + '\r\n');
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const cmd = JSON.parse(line) as { execute: string; id?: unknown };
        received.push(cmd.execute);
        const r = reply(cmd, c);
        if (r !== undefined) c.write(JSON.stringify({ ...(r as object), id: cmd.id }) + '\r\n');
      }
    });
  });
  return new Promise((resolve) => server.listen(sock, () => resolve({ server, received })));
}

let dir: string;
let sock: string;
const servers: net.Server[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-qmp-'));
  sock = path.join(dir, 'q.sock');
});
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('QmpClient', () => {
  it('negotiates capabilities, then runs commands and returns their result', async () => {
    const { server, received } = await fakeQmp(sock, (cmd) =>
      cmd.execute === 'query-status' ? { return: { status: 'running', running: true } } : { return: {} },
    );
    servers.push(server);
    const c = await QmpClient.connect(sock);
    try {
      expect(await c.execute('query-status')).toEqual({ status: 'running', running: true });
      expect(received).toEqual(['qmp_capabilities', 'query-status']);
    } finally {
      c.close();
    }
  });

  it('passes arguments and rejects with the QMP error class and description', async () => {
    let seenArgs: unknown;
    const { server } = await fakeQmp(sock, (cmd) => {
      if (cmd.execute === 'qmp_capabilities') return { return: {} };
      seenArgs = cmd.arguments;
      return { error: { class: 'CommandNotFound', desc: 'The command nope has not been found' } };
    });
    servers.push(server);
    const c = await QmpClient.connect(sock);
    try {
      const e = await c.execute('nope', { a: 1 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(QmpError);
      expect((e as QmpError).errorClass).toBe('CommandNotFound');
      expect((e as QmpError).message).toMatch(/has not been found/);
      expect(seenArgs).toEqual({ a: 1 });
    } finally {
      c.close();
    }
  });

  it('surfaces events and still matches the reply that follows them', async () => {
    const { server } = await fakeQmp(sock, (cmd, conn) => {
      if (cmd.execute === 'system_powerdown') {
        conn.write(JSON.stringify({ event: 'POWERDOWN', timestamp: { seconds: 1, microseconds: 2 } }) + '\r\n');
      }
      return { return: {} };
    });
    servers.push(server);
    const c = await QmpClient.connect(sock);
    const events: QmpEvent[] = [];
    c.on('event', (e: QmpEvent) => events.push(e));
    try {
      expect(await c.execute('system_powerdown')).toEqual({});
      expect(events.map((e) => e.event)).toEqual(['POWERDOWN']);
    } finally {
      c.close();
    }
  });

  it('times out a command that gets no answer', async () => {
    const { server } = await fakeQmp(sock, (cmd) => (cmd.execute === 'qmp_capabilities' ? { return: {} } : undefined));
    servers.push(server);
    const c = await QmpClient.connect(sock);
    try {
      await expect(c.execute('query-status', undefined, { timeoutMs: 200 })).rejects.toThrow(/timed out after 200 ms/);
    } finally {
      c.close();
    }
  });

  it('times out a server that never greets', async () => {
    const { server } = await fakeQmp(sock, () => ({ return: {} }), { greet: false });
    servers.push(server);
    await expect(QmpClient.connect(sock, { timeoutMs: 200 })).rejects.toThrow(/greeting timed out/);
  });

  it('fails pending commands when QEMU closes the connection (as on quit)', async () => {
    const { server } = await fakeQmp(sock, (cmd, conn) => {
      if (cmd.execute === 'qmp_capabilities') return { return: {} };
      conn.destroy();
      return undefined;
    });
    servers.push(server);
    const c = await QmpClient.connect(sock);
    await expect(c.execute('quit')).rejects.toThrow(/closed/);
    await expect(c.execute('query-status')).rejects.toThrow(/closed/);
  });

  it('rejects when nothing listens on the socket', async () => {
    await expect(qmpOnce(path.join(dir, 'absent.sock'), 'query-status')).rejects.toThrow(/ENOENT|closed/);
  });

  it('qmpOnce runs one command and disconnects', async () => {
    const { server, received } = await fakeQmp(sock, () => ({ return: { status: 'paused' } }));
    servers.push(server);
    expect(await qmpOnce(sock, 'query-status')).toEqual({ status: 'paused' });
    expect(received).toEqual(['qmp_capabilities', 'query-status']);
  });
});
