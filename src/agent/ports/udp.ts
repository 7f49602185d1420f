import dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { UdpForwarding } from '../../drivers/driver.js';
import { qmpOnce } from '../../drivers/qemu/qmp.js';
import { errorMessage } from '../../errors.js';

/**
 * UDP cannot travel over SSH, so a published UDP port is forwarded by the
 * hypervisor's own NAT, added and removed while the VM runs: QEMU user
 * networking's `hostfwd_add`, VirtualBox's `controlvm natpf1`. The NAT keeps one
 * flow per client address and port, so replies go back to the client that asked,
 * and drops a flow after it has been idle (slirp: 240 s; VirtualBox likewise).
 * The forward reaches the guest's own address at the host port, where the
 * engine's proxy (or the swarm's routing mesh) takes the datagram on.
 */
export interface NatForwarder {
  /** Forwards 127.0.0.1:hostPort/udp to the guest; a message on failure (the port is taken), else undefined. */
  add(hostPort: number): Promise<string | undefined>;
  remove(hostPort: number): Promise<void>;
}

export function natForwarder(spec: UdpForwarding | undefined): NatForwarder | undefined {
  if (!spec) return undefined;
  return spec.kind === 'qemu' ? qemuNat(spec.qmpSocket, spec.netdev) : vboxNat(spec.vboxmanage, spec.vm);
}

function qemuNat(qmpSocket: string, netdev: string): NatForwarder {
  // HMP prints nothing on success and a line of text on failure.
  const hmp = async (line: string): Promise<string> => {
    const out = await qmpOnce<string>(qmpSocket, 'human-monitor-command', { 'command-line': line }, 5000);
    return typeof out === 'string' ? out.trim() : '';
  };
  return {
    async add(hostPort) {
      // A rule left by an agent that died is the only thing QEMU's own port could clash with.
      await hmp(`hostfwd_remove ${netdev} udp:127.0.0.1:${hostPort}`).catch(() => '');
      try {
        const out = await hmp(`hostfwd_add ${netdev} udp:127.0.0.1:${hostPort}-:${hostPort}`);
        return out === '' ? undefined : `127.0.0.1:${hostPort}/udp is already in use on the host (${out})`;
      } catch (e) {
        return `cannot add the forward to QEMU: ${errorMessage(e)}`;
      }
    },
    async remove(hostPort) {
      await hmp(`hostfwd_remove ${netdev} udp:127.0.0.1:${hostPort}`).catch(() => '');
    },
  };
}

const run = promisify(execFile);

export function vboxRuleName(hostPort: number): string {
  return `skiff-udp-${hostPort}`;
}

function vboxNat(vboxmanage: string, vm: string): NatForwarder {
  const natpf = (...args: string[]) => run(vboxmanage, ['controlvm', vm, 'natpf1', ...args]);
  return {
    async add(hostPort) {
      await natpf('delete', vboxRuleName(hostPort)).catch(() => undefined);
      try {
        await natpf(`${vboxRuleName(hostPort)},udp,127.0.0.1,${hostPort},,${hostPort}`);
        return undefined;
      } catch (e) {
        const stderr = (e as { stderr?: string }).stderr?.trim();
        return `VirtualBox refused the forward of 127.0.0.1:${hostPort}/udp: ${stderr || errorMessage(e)}`;
      }
    },
    async remove(hostPort) {
      await natpf('delete', vboxRuleName(hostPort)).catch(() => undefined);
    },
  };
}

/** A flow idle this long is dropped, as the hypervisor's NAT drops its own. */
export const UDP_IDLE_MS = 120_000;

/**
 * Relays [::1]:port/udp to 127.0.0.1:port/udp (the hypervisor's forward), with one
 * socket per client so each client gets its own replies; idle flows are closed.
 */
export class UdpLoopbackRelay {
  private readonly flows = new Map<string, { sock: dgram.Socket; timer: NodeJS.Timeout }>();

  private constructor(
    private readonly server: dgram.Socket,
    private readonly port: number,
    private readonly idleMs: number,
  ) {
    server.on('message', (msg, from) => this.fromClient(msg, from));
  }

  /** Binds [::1]:port exclusively; rejects with the bind error (EADDRINUSE, EADDRNOTAVAIL, ...). */
  static async open(port: number, idleMs = UDP_IDLE_MS): Promise<UdpLoopbackRelay> {
    const server = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.bind({ address: '::1', port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => undefined);
    return new UdpLoopbackRelay(server, port, idleMs);
  }

  get flowCount(): number {
    return this.flows.size;
  }

  close(): void {
    for (const key of [...this.flows.keys()]) this.drop(key);
    this.server.close();
  }

  private fromClient(msg: Buffer, from: dgram.RemoteInfo): void {
    const key = `${from.address}:${from.port}`;
    let flow = this.flows.get(key);
    if (!flow) {
      const sock = dgram.createSocket('udp4');
      // Loopback only, like everything skiff opens; sends wait for the bind.
      sock.bind({ address: '127.0.0.1', port: 0 });
      sock.on('error', () => this.drop(key));
      sock.on('message', (reply, source) => {
        if (source.port !== this.port) return;
        this.touch(key);
        this.server.send(reply, from.port, from.address);
      });
      flow = { sock, timer: setTimeout(() => this.drop(key), this.idleMs) };
      this.flows.set(key, flow);
    }
    this.touch(key);
    flow.sock.send(msg, this.port, '127.0.0.1');
  }

  private touch(key: string): void {
    const f = this.flows.get(key);
    if (!f) return;
    clearTimeout(f.timer);
    f.timer = setTimeout(() => this.drop(key), this.idleMs);
    f.timer.unref();
  }

  private drop(key: string): void {
    const f = this.flows.get(key);
    if (!f) return;
    this.flows.delete(key);
    clearTimeout(f.timer);
    try {
      f.sock.close();
    } catch {
      // already closed
    }
  }
}
