// The alternative issue 22 asked to measure QEMU's NAT forwarding against:
// datagrams framed over one SSH channel ([u16 length][payload], as a relay in
// the agent would send them) to a small relay in the guest that sends each one
// to the published port and frames the replies back. A measuring prototype, not
// product code: one client at a time (replies go to the last sender).
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connectSsh, loadSshTarget } from '../../dist/ssh/connect.js';
import { execCollect, openExec } from '../../dist/ssh/exec.js';

const RELAY_C = `#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
static unsigned char in[2 + 65536], out[2 + 65536];
static int readn(int fd, unsigned char *b, size_t n) { size_t g = 0; while (g < n) { ssize_t r = read(fd, b + g, n - g); if (r <= 0) return -1; g += r; } return 0; }
static int writen(int fd, unsigned char *b, size_t n) { size_t g = 0; while (g < n) { ssize_t r = write(fd, b + g, n - g); if (r <= 0) return -1; g += r; } return 0; }
int main(int argc, char **argv) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a; memset(&a, 0, sizeof a);
  a.sin_family = AF_INET; a.sin_port = htons(atoi(argv[1])); a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, (struct sockaddr *)&a, sizeof a)) return 1;
  for (;;) {
    fd_set r; FD_ZERO(&r); FD_SET(0, &r); FD_SET(s, &r);
    if (select(s + 1, &r, 0, 0, 0) < 0) return 1;
    if (FD_ISSET(0, &r)) {
      if (readn(0, in, 2)) return 0;
      size_t n = (in[0] << 8) | in[1];
      if (readn(0, in + 2, n)) return 0;
      send(s, in + 2, n, 0);
    }
    if (FD_ISSET(s, &r)) {
      ssize_t n = recv(s, out + 2, 65536, 0);
      if (n < 0) continue;
      out[0] = n >> 8; out[1] = n & 255;
      if (writen(1, out, n + 2)) return 1;
    }
  }
}
`;

/**
 * Starts the relay: a UDP socket on 127.0.0.1 (its port is returned) whose
 * datagrams reach guestPort in the guest over one SSH exec channel.
 */
export async function startSshRelay({ machineDir, sshPort, guestPort, workDir }) {
  const src = path.join(workDir, 'udprelay.c');
  const bin = path.join(workDir, 'udprelay');
  writeFileSync(src, RELAY_C);
  execFileSync('gcc', ['-static', '-O2', '-o', bin, src]);
  const target = await loadSshTarget({
    host: '127.0.0.1',
    port: sshPort,
    user: 'root',
    keyPath: path.join(machineDir, 'id_ed25519'),
    hostPubPath: path.join(machineDir, 'ssh_host_ed25519_key.pub'),
  });
  const conn = await connectSsh(target);
  const up = await execCollect(conn.client, 'cat > /tmp/udprelay && chmod +x /tmp/udprelay', { stdin: readFileSync(bin) });
  if (up.code !== 0) throw new Error(`cannot copy the relay into the guest: ${up.stderr}`);
  const ch = await openExec(conn.client, `/tmp/udprelay ${guestPort}`);
  const sock = dgram.createSocket('udp4');
  await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve));
  let peer;
  sock.on('message', (m, rinfo) => {
    peer = rinfo;
    const h = Buffer.alloc(2);
    h.writeUInt16BE(m.length);
    ch.write(Buffer.concat([h, m]));
  });
  let buf = Buffer.alloc(0);
  ch.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2) {
      const n = buf.readUInt16BE(0);
      if (buf.length < 2 + n) break;
      if (peer) sock.send(buf.subarray(2, 2 + n), peer.port, peer.address);
      buf = buf.subarray(2 + n);
    }
  });
  return {
    port: sock.address().port,
    close() {
      sock.close();
      ch.close();
      conn.client.end();
    },
  };
}
