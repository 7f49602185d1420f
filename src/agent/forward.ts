import type net from 'node:net';
import type { ClientChannel } from 'ssh2';
import type { SshConnection } from '../ssh/connect.js';
import { corkForTick } from './batch.js';

/** Opens a channel to a unix socket in the guest (OpenSSH's direct-streamlocal). */
export function openStreamLocal(conn: SshConnection, remotePath: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    conn.client.openssh_forwardOutStreamLocal(remotePath, (err, channel) => {
      if (err) reject(err);
      else resolve(channel);
    });
  });
}

/**
 * Joins a local client socket and a guest channel until both directions are done.
 *
 * Each direction has its own backpressure (a full writer pauses its reader; ssh2
 * stops sending window adjusts while the channel is paused) and its own
 * half-close: the client's write shutdown becomes channel EOF while the reply keeps
 * flowing, and the guest's EOF becomes a write shutdown on the client socket.
 * Docker's client relies on the first for attach, `run -i` and `cp`.
 *
 * `sock` must come from a server created with allowHalfOpen and pauseOnConnect.
 */
export function joinStreams(sock: net.Socket, channel: ClientChannel): Promise<void> {
  return new Promise((resolve) => {
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      sock.destroy();
      channel.close();
      resolve();
    };

    // client -> guest
    sock.on('data', (chunk: Buffer) => {
      if (!channel.write(chunk)) sock.pause();
    });
    channel.on('drain', () => sock.resume());
    sock.on('end', () => channel.end());

    // guest -> client
    channel.on('data', (chunk: Buffer) => {
      corkForTick(sock);
      if (!sock.write(chunk)) channel.pause();
    });
    sock.on('drain', () => channel.resume());
    channel.on('end', () => sock.end());

    // The guest closed the channel: let what we already queued reach the client, then drop it.
    channel.on('close', () => {
      if (sock.writableFinished || sock.destroyed) finish();
      else {
        sock.end();
        sock.once('finish', finish);
        sock.once('close', finish);
      }
    });
    // Both client directions are done; data still queued for the guest (waiting for
    // window) goes out before the channel is closed.
    sock.on('close', () => {
      if (channel.writableFinished || channel.destroyed) finish();
      else channel.once('finish', finish);
    });
    sock.on('error', finish);
    channel.on('error', finish);

    // The client may have gone while the channel was being opened.
    if (sock.destroyed) finish();
    else sock.resume();
  });
}
