import { describe, expect, it } from 'vitest';
import { diffPorts, portEvent, publishedPorts, runningContainerIds, splitEvents, type PublishedPort } from '../../src/agent/ports/published.js';

const ID = 'a'.repeat(64);

function inspect(ports: unknown, over: Record<string, unknown> = {}): unknown {
  return {
    Id: ID,
    Name: '/web',
    State: { Running: true },
    NetworkSettings: { IPAddress: '', Ports: ports, Networks: { bridge: { IPAddress: '172.17.0.2' } } },
    ...over,
  };
}

describe('publishedPorts', () => {
  it('forwards a tcp port once although the engine lists its v4 and v6 bindings', () => {
    const ports = publishedPorts(inspect({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }, { HostIp: '::', HostPort: '8080' }] }));
    expect(ports).toEqual([{ hostPort: 8080, proto: 'tcp', owner: ID, name: 'web', target: { host: '172.17.0.2', port: 80 } }]);
  });

  it('keeps udp ports apart from tcp ones of the same number', () => {
    const ports = publishedPorts(inspect({ '53/udp': [{ HostIp: '0.0.0.0', HostPort: '8080' }], '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] }));
    expect(ports.map((p) => `${p.hostPort}/${p.proto}`)).toEqual(['8080/tcp', '8080/udp']);
  });

  it('skips sctp, unpublished exposed ports and bindings to another guest address', () => {
    const ports = publishedPorts(
      inspect({
        '53/sctp': [{ HostIp: '0.0.0.0', HostPort: '5353' }],
        '443/tcp': null,
        '22/tcp': [{ HostIp: '10.0.2.15', HostPort: '2222' }],
        '81/tcp': [{ HostIp: '127.0.0.1', HostPort: '8081' }],
      }),
    );
    expect(ports.map((p) => p.hostPort)).toEqual([8081]);
  });

  it('falls back to the guest loopback and the host port without a container address', () => {
    const [p] = publishedPorts(inspect({ '80/tcp': [{ HostIp: '', HostPort: '9000' }] }, { NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '', HostPort: '9000' }] } } }));
    expect(p?.target).toEqual({ host: '127.0.0.1', port: 9000 });
  });

  it('publishes nothing for a container that is not running or a payload that is not a container', () => {
    expect(publishedPorts(inspect({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] }, { State: { Running: false } }))).toEqual([]);
    expect(publishedPorts({ message: 'No such container' })).toEqual([]);
    expect(publishedPorts(null)).toEqual([]);
  });

  it('ignores host ports out of range', () => {
    expect(publishedPorts(inspect({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '' }, { HostIp: '0.0.0.0', HostPort: '70000' }] }))).toEqual([]);
  });
});

describe('engine events', () => {
  it('maps start and die/stop/destroy to port changes and ignores the rest', () => {
    const ev = (Action: string, Type = 'container') => ({ Type, Action, Actor: { ID, Attributes: {} } });
    expect(portEvent(ev('start'))).toEqual({ kind: 'start', id: ID });
    for (const a of ['die', 'stop', 'destroy']) expect(portEvent(ev(a))).toEqual({ kind: 'stop', id: ID });
    for (const a of ['pause', 'unpause', 'kill', 'create', 'exec_start: sh']) expect(portEvent(ev(a))).toBeUndefined();
    expect(portEvent(ev('start', 'network'))).toBeUndefined();
    // Old-style fields still sent by older engines.
    expect(portEvent({ status: 'die', id: ID })).toEqual({ kind: 'stop', id: ID });
  });

  it('splits a stream into whole JSON lines and keeps the unfinished tail', () => {
    const a = splitEvents('{"Action":"start"}\n{"Action":"di');
    expect(a.events).toEqual([{ Action: 'start' }]);
    expect(a.rest).toBe('{"Action":"di');
    const b = splitEvents(a.rest + 'e"}\n\nnot json\n');
    expect(b.events).toEqual([{ Action: 'die' }]);
    expect(b.rest).toBe('');
  });

  it('reads the ids of the running containers', () => {
    expect(runningContainerIds([{ Id: 'x' }, { Id: 'y' }, { nope: 1 }])).toEqual(['x', 'y']);
    expect(runningContainerIds({ message: 'err' })).toEqual([]);
  });
});

describe('diffPorts', () => {
  const port = (hostPort: number, owner = 'c1', targetPort = 80): PublishedPort => ({
    hostPort,
    proto: 'tcp',
    owner,
    name: owner,
    target: { host: '172.17.0.2', port: targetPort },
  });

  it('opens what is new, closes what is gone, leaves the same alone', () => {
    const current = new Map([
      ['8080/tcp', port(8080)],
      ['8081/tcp', port(8081)],
    ]);
    expect(diffPorts(current, [port(8080), port(9000, 'c2')])).toEqual({ close: ['8081/tcp'], open: [port(9000, 'c2')] });
    // The same number over UDP is another port.
    expect(diffPorts(current, [port(8080), port(8081), { ...port(8080), proto: 'udp' }])).toEqual({ close: [], open: [{ ...port(8080), proto: 'udp' }] });
  });

  it('reopens a port that now belongs to another container or target', () => {
    const current = new Map([['8080/tcp', port(8080, 'old')]]);
    expect(diffPorts(current, [port(8080, 'new')])).toEqual({ close: ['8080/tcp'], open: [port(8080, 'new')] });
    expect(diffPorts(new Map([['8080/tcp', port(8080)]]), [port(8080, 'c1', 81)])).toEqual({ close: ['8080/tcp'], open: [port(8080, 'c1', 81)] });
  });

  it('closes everything when nothing is wanted', () => {
    expect(diffPorts(new Map([['1/tcp', port(1)], ['2/tcp', port(2)]]), [])).toEqual({ close: ['1/tcp', '2/tcp'], open: [] });
  });
});
