import net from 'node:net';
import { readFile } from 'node:fs/promises';
import ssh2 from 'ssh2';
import type { AgentAuthMethod, Client as ClientType, ConnectConfig, PublicKeyAuthMethod } from 'ssh2';
import { ExitCode, SkiffError, errorMessage } from '../errors.js';
import { hostKeyChangedError, loadPinnedHostKey, type PinnedHostKey } from './hostkey.js';
import { remoteConnectError } from './remote-errors.js';

const { Client } = ssh2;

type LoginMethod = PublicKeyAuthMethod | AgentAuthMethod;

export interface SshEndpoint {
  host: string;
  port: number;
}

/** Everything needed to log in to one guest, or to a remote host (`remote`). */
export interface SshTarget extends SshEndpoint {
  user: string;
  /** The key offered; a remote host may instead be logged in to through the user's SSH agent. */
  privateKey?: Buffer;
  /** The SSH agent's socket (SSH_AUTH_SOCK), for a remote host without an identity file. */
  agent?: string;
  hostKey: PinnedHostKey;
  /** A host skiff does not run: a changed key there means a reinstalled host or an interceptor. */
  remote?: boolean;
}

export interface ConnectOptions {
  readyTimeoutMs?: number;
  /** SSH-level keepalive; a dead link is noticed after interval * (countMax + 1). */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  signal?: AbortSignal;
  /** A connection to the target already open (connectWithBanner's), used instead of a new one. */
  socket?: net.Socket;
}

/** A connected client plus the TCP socket under it (the agent corks it to batch writes). */
export interface SshConnection {
  client: ClientType;
  socket: net.Socket;
  /** The negotiated client-to-server cipher, for the log. */
  cipher: string | undefined;
}

/*
 * aes128-gcm first: with or without ssh2's optional native binding it is the
 * fastest cipher both ends share (Node's OpenSSL uses AES-NI); chacha20 in pure
 * JS is roughly half as fast. Only ed25519 host keys: that is what skiff pins.
 */
export const SSH_ALGORITHMS = {
  cipher: [
    'aes128-gcm@openssh.com',
    'aes256-gcm@openssh.com',
    'chacha20-poly1305@openssh.com',
    'aes128-ctr',
    'aes256-ctr',
  ],
  serverHostKey: ['ssh-ed25519'],
} satisfies ConnectConfig['algorithms'];

export async function loadSshTarget(opts: {
  host: string;
  port: number;
  user: string;
  /** One of keyPath and agent at least. */
  keyPath?: string;
  agent?: string;
  hostPubPath: string;
  remote?: boolean;
}): Promise<SshTarget> {
  let privateKey: Buffer | undefined;
  if (opts.keyPath !== undefined) {
    try {
      privateKey = await readFile(opts.keyPath);
    } catch (e) {
      throw new SkiffError('ssh-key-missing', `cannot read the machine's SSH key ${opts.keyPath}: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`, {
        hint: opts.remote
          ? 'put the key back, or re-create the machine with another --identity (`skiff delete` forgets it, touching nothing on the host)'
          : 'the machine is incomplete: re-create it with `skiff delete` and `skiff init`',
        exitCode: ExitCode.environment,
        cause: e,
      });
    }
  }
  const hostKey = await loadPinnedHostKey(opts.hostPubPath);
  return {
    host: opts.host,
    port: opts.port,
    user: opts.user,
    ...(privateKey ? { privateKey } : {}),
    ...(opts.agent ? { agent: opts.agent } : {}),
    hostKey,
    ...(opts.remote ? { remote: true } : {}),
  };
}

/** The host key algorithms that can prove the pinned key: one for ed25519 and ECDSA, three signatures for RSA. */
export function hostKeyAlgorithms(blob: Buffer): string[] {
  const type = keyType(blob);
  return type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
}

/** The type name a public key blob begins with ("ssh-ed25519", "ecdsa-sha2-nistp256", ...). */
export function keyType(blob: Buffer): string {
  const n = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  return blob.subarray(4, 4 + n).toString('latin1');
}

/** What a login offers, in order: the key file, then the SSH agent. */
export function authMethods(target: Pick<SshTarget, 'user' | 'privateKey' | 'agent'>): LoginMethod[] {
  const methods: LoginMethod[] = [];
  if (target.privateKey) methods.push({ type: 'publickey', username: target.user, key: target.privateKey } satisfies PublicKeyAuthMethod);
  if (target.agent) methods.push({ type: 'agent', username: target.user, agent: target.agent } satisfies AgentAuthMethod);
  return methods;
}

/**
 * One connection attempt. Public-key auth only, the host key pinned: a different
 * key fails with `host-key-changed` before any authentication is sent.
 */
export function connectSsh(target: SshTarget, opts: ConnectOptions = {}): Promise<SshConnection> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(abortError());
      return;
    }
    const socket = opts.socket ?? net.connect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    const client = new Client();
    let mismatch: SkiffError | undefined;
    let settled = false;
    let cipher: string | undefined;
    client.once('handshake', (n) => {
      cipher = n.cs.cipher;
    });

    const finish = (err: Error | undefined): void => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      client.removeListener('ready', onReady);
      client.removeListener('error', onError);
      // An 'error' without a listener would crash the process; callers learn of a
      // dropped connection from 'close' (and may add their own 'error' listener).
      client.on('error', () => {});
      if (err) {
        client.end();
        socket.destroy();
        reject(err);
      } else {
        resolve({ client, socket, cipher });
      }
    };
    const onReady = (): void => finish(undefined);
    const onError = (e: Error): void => finish(mismatch ?? connectError(target, e));
    const onAbort = (): void => finish(abortError());

    client.once('ready', onReady);
    client.on('error', onError);
    client.once('close', () => finish(mismatch ?? connectError(target, new Error('connection closed during handshake'))));
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    client.connect({
      sock: socket,
      username: target.user,
      // Keys only, never a password: a host that wants one refuses the login.
      authHandler: authMethods(target),
      tryKeyboard: false,
      hostVerifier: (offered: Buffer) => {
        if (offered.equals(target.hostKey.blob)) return true;
        mismatch = hostKeyChangedError(target.hostKey, offered, `${target.host}:${target.port}`, target.remote);
        return false;
      },
      algorithms: { ...SSH_ALGORITHMS, serverHostKey: hostKeyAlgorithms(target.hostKey.blob) as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] },
      readyTimeout: opts.readyTimeoutMs ?? 20_000,
      keepaliveInterval: opts.keepaliveIntervalMs ?? 5_000,
      keepaliveCountMax: opts.keepaliveCountMax ?? 3,
    });
  });
}

function abortError(): SkiffError {
  return new SkiffError('aborted', 'SSH connection attempt was cancelled');
}

function connectError(target: SshTarget, e: Error): SkiffError {
  if (target.remote) return remoteConnectError(target, e);
  return new SkiffError('ssh-connect-failed', `cannot connect over SSH to ${target.host}:${target.port}: ${errorMessage(e)}`, {
    hint: 'check that the machine is running (`skiff status`) and see its console log',
    exitCode: ExitCode.network,
    cause: e,
  });
}
