import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectWithBanner } from '../../src/ssh/banner.js';

let server: net.Server | undefined;
afterEach(() => server?.close());

/** A loopback server that writes `greeting` (in pieces) to each connection and records what it gets back. */
async function serve(greeting: string[]): Promise<{ port: number; received: () => string }> {
  let got = '';
  server = net.createServer((c) => {
    c.on('data', (d) => (got += d.toString('latin1')));
    let delay = 0;
    for (const piece of greeting) setTimeout(() => c.write(piece), (delay += 20));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, received: () => got };
}

function readAll(sock: net.Socket, n: number): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    sock.on('data', (d: Buffer) => {
      s += d.toString('latin1');
      if (s.length >= n) resolve(s);
    });
    sock.resume();
  });
}

describe('the banner probe that becomes the connection', () => {
  it('hands back the same connection with every byte of the banner still to read, even one sent in pieces', async () => {
    const { port, received } = await serve(['SS', 'H-2.0-OpenSSH_10.0\r\n', 'more']);
    const sock = await connectWithBanner('127.0.0.1', port, 2000);
    expect(sock.isPaused()).toBe(true);
    const text = await readAll(sock, 'SSH-2.0-OpenSSH_10.0\r\nmore'.length);
    expect(text).toBe('SSH-2.0-OpenSSH_10.0\r\nmore');
    // The connection is live both ways: what is written reaches the server.
    sock.write('SSH-2.0-client\r\n');
    await new Promise((r) => setTimeout(r, 100));
    expect(received()).toBe('SSH-2.0-client\r\n');
    sock.destroy();
  });

  it('refuses what is not SSH, and a silent listener after its timeout', async () => {
    const { port } = await serve(['HTTP/1.1 400 Bad Request\r\n']);
    await expect(connectWithBanner('127.0.0.1', port, 2000)).rejects.toThrow(/is not an SSH server/);
    server!.close();
    const silent = await serve([]);
    await expect(connectWithBanner('127.0.0.1', silent.port, 200)).rejects.toThrow(/no SSH banner .* within 200 ms/);
  });
});
