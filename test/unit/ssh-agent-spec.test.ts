import { describe, expect, it } from 'vitest';
import { agentSpecPath, parseAgentSpec } from '../../src/agent/spec.js';
import { SkiffError } from '../../src/errors.js';

const valid = {
  machine: 'default',
  sshHost: '127.0.0.1',
  sshPort: 2222,
  user: 'root',
  keyPath: '/h/.skiff/machines/default/id_ed25519',
  hostPubPath: '/h/.skiff/machines/default/ssh_host_ed25519_key.pub',
  socketPath: '/tmp/skiff-0/abc/default/docker.sock',
  pidPath: '/tmp/skiff-0/abc/default/agent.pid',
  statePath: '/tmp/skiff-0/abc/default/agent.json',
  logPath: '/h/.skiff/machines/default/agent.log',
};

describe('agent spec', () => {
  it('accepts a complete spec, remoteSocket optional', () => {
    expect(parseAgentSpec(valid)).toEqual(valid);
    expect(parseAgentSpec({ ...valid, remoteSocket: '/run/x.sock' }).remoteSocket).toBe('/run/x.sock');
  });

  it('rejects relative paths and bad ports with the field named', () => {
    expect(() => parseAgentSpec({ ...valid, socketPath: 'docker.sock' })).toThrow(/socketPath/);
    expect(() => parseAgentSpec({ ...valid, sshPort: 70000 })).toThrow(SkiffError);
    expect(() => parseAgentSpec({ ...valid, user: undefined })).toThrow(/user/);
  });

  it('keeps the spec file beside the pid file', () => {
    expect(agentSpecPath(valid)).toBe('/tmp/skiff-0/abc/default/agent.spec.json');
  });
});
