import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Pids of live processes whose command line contains every one of `needles`. */
export function pidsWithCommandLine(...needles: string[]): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replaceAll('\0', ' ');
      // A zombie has an empty command line and holds no resources: not "running".
      if (cmd === '') continue;
    } catch {
      continue;
    }
    if (needles.every((n) => cmd.includes(n))) out.push(Number(d));
  }
  return out;
}

export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

export async function waitGone(pid: number, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

export interface TcpListener {
  pid: number;
  /** Dotted IPv4 or the raw 32-hex-digit IPv6 of /proc/net/tcp6. */
  address: string;
  port: number;
  family: 4 | 6;
}

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // The fd closed while we looked.
    }
  }
  return inodes;
}

function ipv4(hex: string): string {
  // /proc/net/tcp prints the address in host (little-endian) byte order.
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
}

/** Every TCP socket in LISTEN state that one of `pids` holds, from /proc/net/tcp{,6}. */
export function tcpListeners(pids: number[]): TcpListener[] {
  const out: TcpListener[] = [];
  for (const pid of pids) {
    const inodes = socketInodes(pid);
    for (const [file, family] of [
      ['/proc/net/tcp', 4],
      ['/proc/net/tcp6', 6],
    ] as const) {
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue;
        const [addr, port] = f[1]!.split(':') as [string, string];
        out.push({ pid, address: family === 4 ? ipv4(addr) : addr, port: Number.parseInt(port, 16), family });
      }
    }
  }
  return out;
}

/** True for 127.0.0.0/8, ::1 and ::ffff:127.x as /proc/net prints them. */
export function isLoopback(l: TcpListener): boolean {
  if (l.family === 4) return l.address.startsWith('127.');
  return l.address === '00000000000000000000000001000000' || /^0000000000000000FFFF0000[0-9A-F]{6}7F$/i.test(l.address);
}
