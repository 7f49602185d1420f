import { describe, expect, it } from 'vitest';
import { RemoteConfigSchema, VmConfigSchema } from '../../src/machine/config.js';
import { chooseEngineSocket, parseSurvey } from '../../src/remote/engine-socket.js';
import { normaliseFingerprint } from '../../src/remote/first-contact.js';
import { formatHostAddress, parseHostAddress } from '../../src/remote/host.js';
import { hostKeyAlgorithms, keyType } from '../../src/ssh/connect.js';
import { generateEd25519, publicKeyBlob } from '../../src/ssh/keys.js';

describe('--host USER@HOST[:PORT]', () => {
  const me = () => 'me';
  it.each([
    ['pi@raspberrypi.local', { user: 'pi', host: 'raspberrypi.local', port: 22 }],
    ['pi@10.0.0.7:2222', { user: 'pi', host: '10.0.0.7', port: 2222 }],
    ['admin@[2001:db8::5]:2200', { user: 'admin', host: '2001:db8::5', port: 2200 }],
    ['admin@2001:db8::5', { user: 'admin', host: '2001:db8::5', port: 22 }],
    ['server', { user: 'me', host: 'server', port: 22 }],
    ['a.b@host-1.example.org', { user: 'a.b', host: 'host-1.example.org', port: 22 }],
  ])('%s', (spec, want) => {
    expect(parseHostAddress(spec, me)).toEqual(want);
  });
  it.each([
    ['pi@', /no valid host/],
    ['pi@a b', /no valid host/],
    ['-oProxyCommand=x@h', /no valid user/],
    ['pi@-oProxyCommand', /no valid host/],
    ['pi@h:0', /no valid port/],
    ['pi@h:22x', /no valid port/],
    ['pi@[::1]:', /no valid port/],
  ])('refuses %s', (spec, why) => {
    expect(() => parseHostAddress(spec, me)).toThrow(why);
  });
  it('writes an address back as users write it', () => {
    expect(formatHostAddress({ user: 'pi', host: 'h', port: 22 })).toBe('pi@h');
    expect(formatHostAddress({ user: 'pi', host: '::1', port: 2222 })).toBe('pi@[::1]:2222');
  });
});

describe('the engine socket of a host', () => {
  const survey = (text: string) => parseSurvey(text);
  it('prefers a usable rootless socket to the rootful one', () => {
    const s = survey('socket ok /run/user/1000/docker.sock\nsocket ok /var/run/docker.sock\narch aarch64\nuser pi\ngroups pi docker\n');
    expect(s.arch).toBe('aarch64');
    expect(chooseEngineSocket(s, 'pi@h')).toBe('/run/user/1000/docker.sock');
  });
  it('takes the rootful one the user may use', () => {
    expect(chooseEngineSocket(survey('socket ok /var/run/docker.sock\nuser pi\ngroups pi docker\n'), 'pi@h')).toBe('/var/run/docker.sock');
  });
  it('says how to get access when the user may not use the socket', () => {
    expect(() => chooseEngineSocket(survey('socket denied /var/run/docker.sock\nuser bob\ngroups bob\n'), 'bob@h')).toThrow(
      /bob on bob@h may not use the Docker engine socket \/var\/run\/docker\.sock/,
    );
    try {
      chooseEngineSocket(survey('socket denied /var/run/docker.sock\nuser bob\ngroups bob\n'), 'bob@h');
    } catch (e) {
      expect((e as { hint: string }).hint).toMatch(/usermod -aG docker bob/);
    }
  });
  it('says there is no engine, or that a given path is no socket', () => {
    expect(() => chooseEngineSocket(survey('arch x86_64\nuser u\ngroups u\n'), 'u@h')).toThrow(/no Docker engine on u@h/);
    expect(() => chooseEngineSocket(survey('socket notasocket /tmp/f\nuser u\n'), 'u@h', '/tmp/f')).toThrow(/\/tmp\/f on u@h is not a socket/);
  });
});

describe('host keys', () => {
  it('takes a fingerprint with or without its SHA256: prefix, and nothing else', () => {
    const b64 = 'xdB1MeF060BDcVNk6gu7UwGSnThpB3zKL9INVgP+5Lg';
    expect(normaliseFingerprint(b64)).toBe(`SHA256:${b64}`);
    expect(normaliseFingerprint(` SHA256:${b64}= `)).toBe(`SHA256:${b64}`);
    expect(() => normaliseFingerprint('MD5:12:34')).toThrow(/not a SHA256 fingerprint/);
  });
  it('asks only for the algorithms that prove the pinned key', () => {
    const ed = publicKeyBlob(generateEd25519('t').public);
    expect(keyType(ed)).toBe('ssh-ed25519');
    expect(hostKeyAlgorithms(ed)).toEqual(['ssh-ed25519']);
    const rsaBlob = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-rsa'), Buffer.alloc(8)]);
    expect(hostKeyAlgorithms(rsaBlob)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  });
});

describe('a remote machine config', () => {
  const base = { version: 1, name: 'pi', driver: 'ssh', arch: 'aarch64', createdAt: 'now', remote: { host: 'pi.local', port: 22, user: 'pi', engineSocket: '/var/run/docker.sock' } };
  it('has no shares, binfmt or watch, and holds the host to its shapes', () => {
    expect(RemoteConfigSchema.parse(base)).toMatchObject({ shares: [], binfmt: false, watch: false });
    expect(RemoteConfigSchema.safeParse({ ...base, shares: [{ hostPath: '/a', guestPath: '/a', readOnly: false }] }).success).toBe(false);
    expect(RemoteConfigSchema.safeParse({ ...base, remote: { ...base.remote, host: 'a b' } }).success).toBe(false);
    expect(RemoteConfigSchema.safeParse({ ...base, remote: { ...base.remote, engineSocket: 'relative.sock' } }).success).toBe(false);
    expect(VmConfigSchema.safeParse(base).success).toBe(false);
  });
});
