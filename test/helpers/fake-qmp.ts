import dgram from 'node:dgram';
import net from 'node:net';

/**
 * A stand-in for QEMU's QMP socket that plays its user-network NAT: `hostfwd_add
 * n0 udp:127.0.0.1:P-:P` binds 127.0.0.1:P/udp, as slirp does, and answers each
 * datagram with "NAME:text" to the address it came from (the echo container
 * behind the forward); `hostfwd_remove` unbinds it. A port it cannot bind is
 * answered with slirp's error line. Every HMP command line is recorded.
 */
export class FakeQmp {
  readonly commands: string[] = [];
  readonly forwards = new Map<number, dgram.Socket>();
  /** What query-status answers: "paused" plays a VM stopped in QEMU. */
  status = 'running';
  private readonly server = net.createServer((s) => this.serve(s));

  constructor(
    readonly socketPath: string,
    private readonly name: string,
  ) {}

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socketPath, resolve));
  }

  close(): void {
    for (const f of this.forwards.values()) f.close();
    this.server.close();
  }

  private serve(s: net.Socket): void {
    s.on('error', () => {});
    s.write(JSON.stringify({ QMP: { version: {}, capabilities: [] } }) + '\n');
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { execute: string; id?: string; arguments?: { 'command-line'?: string } };
        buf = buf.slice(nl + 1);
        void this.run(msg).then((ret) => s.write(JSON.stringify({ return: ret, id: msg.id }) + '\n'));
      }
    });
  }

  private async run(msg: { execute: string; arguments?: { 'command-line'?: string } }): Promise<unknown> {
    if (msg.execute === 'query-status') return { status: this.status, running: this.status === 'running' };
    if (msg.execute !== 'human-monitor-command') return {};
    const line = msg.arguments?.['command-line'] ?? '';
    this.commands.push(line);
    const add = /^hostfwd_add n0 udp:127\.0\.0\.1:(\d+)-:(\d+)$/.exec(line);
    if (add) {
      const port = Number(add[1]);
      const sock = dgram.createSocket('udp4');
      const ok = await new Promise<boolean>((resolve) => {
        sock.once('error', () => resolve(false));
        sock.bind(port, '127.0.0.1', () => resolve(true));
      });
      if (!ok) return `Could not set up host forwarding rule 'udp:127.0.0.1:${port}-:${port}'\r\n`;
      sock.on('message', (m, from) => sock.send(`${this.name}:${m.toString()}`, from.port, from.address));
      this.forwards.set(port, sock);
      return '';
    }
    const rm = /^hostfwd_remove n0 udp:127\.0\.0\.1:(\d+)$/.exec(line);
    if (rm) {
      const port = Number(rm[1]);
      const f = this.forwards.get(port);
      if (!f) return `host forwarding rule for udp:127.0.0.1:${port} not found\r\n`;
      f.close();
      this.forwards.delete(port);
      return '';
    }
    return `unknown command: ${line}\r\n`;
  }
}
