import dgram from 'node:dgram';
import os from 'node:os';

/** Sends one datagram from its own socket and returns the reply, the socket's error code, or TIMEOUT. */
export function askUdp(port: number, text: string, host = '127.0.0.1', timeoutMs = 3_000): Promise<string> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const done = (r: string): void => {
      clearTimeout(t);
      s.close();
      resolve(r);
    };
    const t = setTimeout(() => done('TIMEOUT'), timeoutMs);
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    s.on('message', (m) => done(m.toString()));
    // Connected, so a closed port is reported (ICMP port unreachable) as ECONNREFUSED.
    s.connect(port, host, () => s.send(text));
  });
}

/** The host has an IPv6 loopback (not every container or CI runner does). */
export function hasIpv6Loopback(): boolean {
  return Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.family === 'IPv6' && a.address === '::1'));
}

/** A static UDP echo server for a FROM-scratch image: answers "echo:" + the datagram to whoever sent it. */
export const UDP_ECHO_C = `
#include <netinet/in.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a; memset(&a, 0, sizeof a);
  a.sin_family = AF_INET; a.sin_port = htons(argc > 1 ? atoi(argv[1]) : 7); a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) return 1;
  char buf[65536 + 5]; memcpy(buf, "echo:", 5);
  for (;;) {
    struct sockaddr_in from; socklen_t fl = sizeof from;
    ssize_t n = recvfrom(s, buf + 5, 65536, 0, (struct sockaddr *)&from, &fl);
    if (n >= 0) sendto(s, buf, n + 5, 0, (struct sockaddr *)&from, fl);
  }
}
`;
