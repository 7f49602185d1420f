import net from 'node:net';

/**
 * Connects and resolves once the far end greets with an SSH banner, handing
 * back that same connection, paused, with the banner's bytes put back for the
 * SSH client to read. QEMU's user-mode network accepts a forwarded connection
 * before the guest can answer it, so a handshake started too early just waits
 * out its whole timeout; a short banner probe tells "sshd is up" from "not yet".
 * Reusing the probe's connection for the login saves sshd a second fork and
 * exec per connection (~0.3 s in a TCG guest).
 */
export function connectWithBanner(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let seen = Buffer.alloc(0);
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      sock.removeListener('data', onData);
      sock.removeListener('error', onError);
      sock.removeListener('close', onClose);
    };
    const fail = (err: Error) => {
      cleanup();
      sock.destroy();
      reject(err);
    };
    const onAbort = () => fail(new Error('aborted'));
    const onError = (e: Error) => fail(e);
    const onClose = () => fail(new Error(`${host}:${port} closed the connection before its SSH banner`));
    const onData = (d: Buffer) => {
      seen = Buffer.concat([seen, d]);
      if (seen.length < 4) return;
      if (seen.subarray(0, 4).toString('latin1') !== 'SSH-') {
        fail(new Error(`${host}:${port} is not an SSH server`));
        return;
      }
      sock.pause();
      cleanup();
      sock.unshift(seen);
      resolve(sock);
    };
    const timer = setTimeout(() => fail(new Error(`no SSH banner from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener('abort', onAbort);
    sock.on('data', onData);
    sock.on('error', onError);
    sock.on('close', onClose);
  });
}

/** Resolves once host:port greets with an SSH banner; the probe's connection is closed. */
export async function waitForBanner(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  (await connectWithBanner(host, port, timeoutMs, signal)).destroy();
}
