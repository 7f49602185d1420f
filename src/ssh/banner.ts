import net from 'node:net';

/**
 * Resolves once something on host:port greets with an SSH banner. QEMU's user-mode
 * network accepts a forwarded connection before the guest can answer it, so a
 * handshake started too early just waits out its whole timeout; a short banner
 * probe tells "sshd is up" from "not yet" in a couple of seconds.
 */
export function waitForBanner(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let seen = '';
    const finish = (err?: Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => finish(new Error('aborted'));
    const timer = setTimeout(() => finish(new Error(`no SSH banner from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener('abort', onAbort);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      seen += d;
      if (seen.startsWith('SSH-')) finish();
      else if (seen.length >= 4) finish(new Error(`${host}:${port} is not an SSH server`));
    });
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish(new Error(`${host}:${port} closed the connection before its SSH banner`)));
  });
}
