import { describe, expect, it } from 'vitest';
import { allServicePorts, serviceEvent, serviceKey, servicePorts } from '../../src/agent/ports/services.js';

const web = {
  ID: 'svc1',
  Spec: { Name: 'web' },
  Endpoint: {
    Ports: [
      { Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' },
      { Protocol: 'udp', TargetPort: 53, PublishedPort: 5353, PublishMode: 'ingress' },
      { Protocol: 'tcp', TargetPort: 443, PublishedPort: 8443, PublishMode: 'host' },
    ],
  },
};

describe('service ports', () => {
  it('forwards TCP and UDP ingress ports to the guest at the published port', () => {
    expect(servicePorts(web)).toEqual([
      { hostPort: 5353, proto: 'udp', owner: 'service:svc1', name: 'web', target: { host: '127.0.0.1', port: 5353 } },
      { hostPort: 8080, proto: 'tcp', owner: 'service:svc1', name: 'web', target: { host: '127.0.0.1', port: 8080 } },
    ]);
  });

  it('ignores services without an endpoint, and answers that are not services', () => {
    expect(servicePorts({ ID: 'x', Spec: { Name: 'q' } })).toEqual([]);
    expect(servicePorts(undefined)).toEqual([]);
    expect(allServicePorts({ message: 'This node is not a swarm manager.' })).toEqual([]);
    expect(allServicePorts([web, { ID: 'svc2', Spec: { Name: 'api' }, Endpoint: { Ports: [{ Protocol: 'tcp', PublishedPort: 9000 }] } }]).map((p) => p.hostPort)).toEqual([5353, 8080, 9000]);
  });

  it('before the allocator fills in Endpoint, takes the ports the spec asks for (not ones the swarm picks)', () => {
    const justCreated = {
      ID: 'svc3',
      Spec: { Name: 'web', EndpointSpec: { Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080 }, { Protocol: 'tcp', TargetPort: 81 }] } },
      Endpoint: { Spec: {} },
    };
    expect(servicePorts(justCreated).map((p) => p.hostPort)).toEqual([8080]);
    // Once allocated, Endpoint.Ports is the truth (it has the swarm-picked port too).
    const allocated = { ...justCreated, Endpoint: { Ports: [{ Protocol: 'tcp', PublishedPort: 8080 }, { Protocol: 'tcp', PublishedPort: 30001 }] } };
    expect(servicePorts(allocated).map((p) => p.hostPort)).toEqual([8080, 30001]);
  });

  it('reads create/update/remove service events and nothing else', () => {
    expect(serviceEvent({ Type: 'service', Action: 'create', Actor: { ID: 'a' } })).toEqual({ kind: 'changed', id: 'a' });
    expect(serviceEvent({ Type: 'service', Action: 'update', Actor: { ID: 'a' } })).toEqual({ kind: 'changed', id: 'a' });
    expect(serviceEvent({ Type: 'service', Action: 'remove', Actor: { ID: 'a' } })).toEqual({ kind: 'removed', id: 'a' });
    expect(serviceEvent({ Type: 'container', Action: 'start', Actor: { ID: 'a' } })).toBeUndefined();
    expect(serviceKey('a')).toBe('service:a');
  });
});
