import { describe, expect, it } from 'vitest';
import {
  candidateAddresses,
  checkAdvertiseAddress,
  chooseAdvertiseAddress,
  parseIpAddr,
  parseRouteSource,
  probeOutcome,
  type WorkerView,
} from '../../src/swarm/addresses.js';

// Real output: iproute2 on a Debian host running Swarm, and busybox's in the skiff guest.
const HOST = [
  '2: enp3s0    inet 192.168.1.20/24 brd 192.168.1.255 scope global dynamic noprefixroute enp3s0\\       valid_lft 85000sec preferred_lft 85000sec',
  '3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever preferred_lft forever',
  '5: docker_gwbridge    inet 172.18.0.1/16 brd 172.18.255.255 scope global docker_gwbridge\\       valid_lft forever preferred_lft forever',
  '6: br-3f2a1b    inet 172.19.0.1/16 brd 172.19.255.255 scope global br-3f2a1b\\       valid_lft forever preferred_lft forever',
  '9: wg0    inet 10.8.0.2/24 scope global wg0\\       valid_lft forever preferred_lft forever',
  '',
].join('\n');
const GUEST = [
  '2: eth0    inet 10.0.2.15/24 brd 10.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever',
  '3: eth1    inet 198.18.0.2/24 brd 198.18.0.255 scope global eth1\\       valid_lft forever preferred_lft forever',
  '12: veth1a2b@if11    inet 169.254.1.1/16 scope global veth1a2b\\       valid_lft forever preferred_lft forever',
].join('\n');

describe('parseIpAddr and candidateAddresses', () => {
  it('reads every interface and address, in order', () => {
    expect(parseIpAddr(GUEST)).toEqual([
      { iface: 'eth0', address: '10.0.2.15' },
      { iface: 'eth1', address: '198.18.0.2' },
      { iface: 'veth1a2b', address: '169.254.1.1' },
    ]);
    expect(parseIpAddr('garbage\n\n')).toEqual([]);
  });

  it("leaves out the engine's bridges, Swarm's interfaces and veths", () => {
    expect(candidateAddresses(parseIpAddr(HOST))).toEqual(['192.168.1.20', '10.8.0.2']);
    expect(candidateAddresses(parseIpAddr(GUEST))).toEqual(['10.0.2.15', '198.18.0.2']);
  });
});

describe('parseRouteSource', () => {
  it('is the src of `ip -4 route get`, iproute2 or busybox', () => {
    expect(parseRouteSource('198.18.0.2 dev eth1 src 198.18.0.3 uid 0 \n    cache \n')).toBe('198.18.0.3');
    expect(parseRouteSource('192.168.1.20 via 10.0.0.1 dev eth0  src 10.0.0.7 \n')).toBe('10.0.0.7');
    expect(parseRouteSource('RTNETLINK answers: Network is unreachable')).toBeUndefined();
  });
});

describe('probeOutcome', () => {
  it('a refused connection reaches the host (nothing listens before swarm init)', () => {
    expect(probeOutcome(1, 'bash: connect: Connection refused\nbash: line 1: /dev/tcp/198.18.0.2/2377: Connection refused\n', false)).toEqual({ reachable: true });
    expect(probeOutcome(1, 'nc: can\'t connect to remote host (198.18.0.2): Connection refused\n', false)).toEqual({ reachable: true });
  });

  it('an accepted connection: the manager, once it listens; before, someone else (measured: a proxy that accepts any address)', () => {
    expect(probeOutcome(0, '', true)).toEqual({ reachable: true });
    expect(probeOutcome(0, '', false)).toEqual({ reachable: false, why: 'something else answered (a proxy or NAT?)' });
  });

  it('a timeout or a routing error does not', () => {
    expect(probeOutcome(124, '', false)).toEqual({ reachable: false, why: 'no answer within 3 s' });
    expect(probeOutcome(143, 'Terminated\n', false)).toEqual({ reachable: false, why: 'no answer within 3 s' });
    expect(probeOutcome(1, 'bash: connect: No route to host\nbash: line 1: /dev/tcp/10.9.9.9/2377: No route to host\n', false)).toEqual({ reachable: false, why: 'No route to host' });
    expect(probeOutcome(1, '', false)).toEqual({ reachable: false, why: 'probe failed (exit 1)' });
  });
});

const view = (machine: string, holds: string[], probes: Record<string, true | string>): WorkerView => ({
  machine,
  holds,
  probes: new Map(Object.entries(probes).map(([a, p]) => [a, p === true ? { reachable: true } : { reachable: false, why: p }])),
});

describe('chooseAdvertiseAddress', () => {
  it('skips the address every QEMU user-mode guest holds itself (10.0.2.15)', () => {
    const w = view('b', ['10.0.2.15', '198.18.0.3'], { '198.18.0.2': true });
    expect(chooseAdvertiseAddress('a', ['10.0.2.15', '198.18.0.2'], [w])).toBe('198.18.0.2');
  });

  it('takes the first candidate that every worker reaches', () => {
    const b = view('b', ['192.168.1.21'], { '192.168.1.20': true, '10.8.0.2': true });
    const c = view('c', ['10.8.0.3'], { '192.168.1.20': 'no answer within 3 s', '10.8.0.2': true });
    expect(chooseAdvertiseAddress('a', ['192.168.1.20', '10.8.0.2'], [b, c])).toBe('10.8.0.2');
  });

  it('a swarm of one takes the first candidate', () => {
    expect(chooseAdvertiseAddress('a', ['192.168.1.20', '10.8.0.2'], [])).toBe('192.168.1.20');
  });

  it('none that qualifies: one line naming each candidate and what each worker said, hint --advertise-addr', () => {
    const b = view('b', ['10.0.2.15'], { '192.168.1.20': 'No route to host' });
    let err: unknown;
    try {
      chooseAdvertiseAddress('a', ['10.0.2.15', '192.168.1.20'], [b]);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: 'no-advertise-address',
      exitCode: 4,
      message: 'no address of the manager a is reachable from every worker: 10.0.2.15 (b: holds it itself); 192.168.1.20 (b: No route to host)',
      hint: expect.stringContaining('--advertise-addr'),
    });
  });

  it('no candidate at all is its own error', () => {
    expect(() => chooseAdvertiseAddress('a', [], [])).toThrow(/has no global IPv4 address/);
  });
});

describe('checkAdvertiseAddress', () => {
  it("takes one of the manager's addresses and refuses any other, listing them", () => {
    expect(checkAdvertiseAddress('a', '10.8.0.2', ['192.168.1.20', '10.8.0.2'])).toBe('10.8.0.2');
    expect(() => checkAdvertiseAddress('a', '10.9.9.9', ['192.168.1.20', '10.8.0.2'])).toThrow(
      expect.objectContaining({ exitCode: 2, message: '--advertise-addr 10.9.9.9 is not an address of the manager a; its addresses: 192.168.1.20, 10.8.0.2' }),
    );
  });
});
