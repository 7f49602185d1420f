import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectShell, dockerEnv, dockerEnvUnset, renderEnv, SHELLS, usageComment } from '../../src/shell/formats.js';
import { shellinit } from '../../src/shell/shellinit.js';
import { machinePaths } from '../../src/layout/paths.js';

const sock = "/tmp/skiff-0/abc/it's here/docker.sock";

describe('renderEnv', () => {
  const expected: Record<string, { set: string[]; unset: string[] }> = {
    bash: {
      set: [`export DOCKER_HOST='unix:///tmp/skiff-0/abc/it'\\''s here/docker.sock'`, `export SKIFF_MACHINE='default'`],
      unset: ['unset DOCKER_TLS_VERIFY', 'unset DOCKER_CERT_PATH', 'unset DOCKER_CONTEXT'],
    },
    fish: {
      set: [`set -gx DOCKER_HOST 'unix:///tmp/skiff-0/abc/it'\\''s here/docker.sock';`, `set -gx SKIFF_MACHINE 'default';`],
      unset: ['set -e DOCKER_TLS_VERIFY;', 'set -e DOCKER_CERT_PATH;', 'set -e DOCKER_CONTEXT;'],
    },
    tcsh: {
      set: [`setenv DOCKER_HOST 'unix:///tmp/skiff-0/abc/it'\\''s here/docker.sock';`, `setenv SKIFF_MACHINE 'default';`],
      unset: ['unsetenv DOCKER_TLS_VERIFY;', 'unsetenv DOCKER_CERT_PATH;', 'unsetenv DOCKER_CONTEXT;'],
    },
    powershell: {
      set: [`$Env:DOCKER_HOST = 'unix:///tmp/skiff-0/abc/it''s here/docker.sock'`, `$Env:SKIFF_MACHINE = 'default'`],
      unset: [
        'Remove-Item Env:\\DOCKER_TLS_VERIFY -ErrorAction SilentlyContinue',
        'Remove-Item Env:\\DOCKER_CERT_PATH -ErrorAction SilentlyContinue',
        'Remove-Item Env:\\DOCKER_CONTEXT -ErrorAction SilentlyContinue',
      ],
    },
    cmd: {
      set: [`SET DOCKER_HOST=unix://${sock}`, 'SET SKIFF_MACHINE=default'],
      unset: ['SET DOCKER_TLS_VERIFY=', 'SET DOCKER_CERT_PATH=', 'SET DOCKER_CONTEXT='],
    },
    nu: {
      set: [`load-env { DOCKER_HOST: "unix://${sock}", SKIFF_MACHINE: "default" }`],
      unset: ['hide-env --ignore-errors DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT'],
    },
  };
  expected.zsh = expected.bash!;
  expected.sh = expected.bash!;

  for (const shell of SHELLS) {
    it(`${shell}: sets DOCKER_HOST and clears the TLS and context vars`, () => {
      expect(renderEnv(shell, dockerEnv(sock, 'default'))).toEqual([...expected[shell]!.set, ...expected[shell]!.unset]);
    });
    it(`${shell}: --unset undoes all of it`, () => {
      const lines = renderEnv(shell, dockerEnvUnset());
      expect(lines.join('\n')).toContain('DOCKER_HOST');
      expect(lines.join('\n')).toContain('SKIFF_MACHINE');
      expect(lines.join('\n')).not.toContain('unix://');
    });
  }

  it('the usage comment matches each shell', () => {
    expect(usageComment('bash', 'skiff shellinit')).toMatch(/# eval "\$\(skiff shellinit\)"$/);
    expect(usageComment('fish', 'skiff shellinit')).toMatch(/# skiff shellinit \| source$/);
    expect(usageComment('powershell', 'skiff shellinit')).toMatch(/Invoke-Expression$/);
    expect(usageComment('cmd', 'skiff shellinit')).toMatch(/^REM /);
  });
});

describe('real shells evaluate the output', () => {
  for (const shell of ['bash', 'sh'] as const) {
    it(`${shell} ends with DOCKER_HOST set and DOCKER_TLS_VERIFY gone`, () => {
      const script = renderEnv(shell, dockerEnv(sock, 'default')).join('\n');
      const out = execFileSync(shell, ['-c', `DOCKER_TLS_VERIFY=1; export DOCKER_TLS_VERIFY; ${script}\nprintf '%s|%s' "$DOCKER_HOST" "\${DOCKER_TLS_VERIFY-unset}"`], { encoding: 'utf8' });
      expect(out).toBe(`unix://${sock}|unset`);
    });
  }
});

describe('detectShell', () => {
  it.each([
    ['/bin/bash', 'linux', 'bash'],
    ['/usr/bin/zsh', 'darwin', 'zsh'],
    ['/usr/local/bin/fish', 'linux', 'fish'],
    ['/bin/tcsh', 'linux', 'tcsh'],
    ['/bin/csh', 'linux', 'tcsh'],
    ['/bin/dash', 'linux', 'sh'],
    ['/usr/bin/nu', 'linux', 'nu'],
    ['/usr/bin/pwsh', 'linux', 'powershell'],
  ] as const)('SHELL=%s on %s is %s', (shellPath, platform, want) => {
    expect(detectShell({ SHELL: shellPath }, platform)).toBe(want);
  });
  it('Windows: PowerShell by PSModulePath, else cmd', () => {
    expect(detectShell({ PSModulePath: 'C:\\x' }, 'win32')).toBe('powershell');
    expect(detectShell({}, 'win32')).toBe('cmd');
  });
  it('unknown falls back to sh', () => {
    expect(detectShell({}, 'linux')).toBe('sh');
  });
});

describe('shellinit', () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'skiff-shellinit-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));
  const p = machinePaths(home, 'dev');
  mkdirSync(p.dir, { recursive: true });
  writeFileSync(p.config, 'x');

  it("points DOCKER_HOST at the machine's socket and ends with the usage comment", () => {
    const r = shellinit({ home, name: 'dev', shell: 'bash', unset: false, env: {}, platform: 'linux' });
    expect(r.set.DOCKER_HOST).toBe(`unix://${p.dockerSocket}`);
    const lines = r.text.trimEnd().split('\n');
    expect(lines.at(-1)).toBe('# eval "$(skiff shellinit -m dev --shell bash)"');
  });
  it('refuses an unknown shell and a missing machine', () => {
    expect(() => shellinit({ home, name: 'dev', shell: 'csh2', unset: false, env: {}, platform: 'linux' })).toThrow(/unknown shell/);
    expect(() => shellinit({ home, name: 'nope', unset: false, env: {}, platform: 'linux' })).toThrow(/does not exist/);
  });
  it('keeps the socket path short enough for a unix socket', () => {
    const long = path.join(home, 'x'.repeat(150));
    expect(Buffer.byteLength(machinePaths(long, 'a'.repeat(32)).dockerSocket)).toBeLessThan(104);
  });
});
