import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { containersUsing, quiesceCommand } from '../../src/machine/suspend.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'skiff-suspend-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('containers that hold a share', () => {
  const shares = ['/home/Jane Doe.t', '/srv/data'];
  it('names running containers with a bind mount at or below a share, and only those', () => {
    const got = containersUsing(
      [
        { Names: ['/web'], Mounts: [{ Type: 'bind', Source: '/home/Jane Doe.t/app' }] },
        { Names: ['/db'], Mounts: [{ Type: 'volume', Source: '/var/lib/docker/volumes/x/_data' }] },
        { Names: ['/exact'], Mounts: [{ Type: 'bind', Source: '/srv/data' }] },
        // A sibling whose name starts like a share is not inside it.
        { Names: ['/sibling'], Mounts: [{ Type: 'bind', Source: '/srv/database' }] },
        { Id: '0123456789abcdef', Mounts: [{ Type: 'bind', Source: '/srv/data/x' }] },
        { Names: ['/none'] },
      ],
      shares,
    );
    expect(got).toEqual(['web', 'exact', '0123456789ab']);
  });
});

describe('the guest command run before a save', () => {
  /**
   * Runs it with stand-ins: `stat` says which paths are mount points (a file lists
   * them), `umount` records its argument and fails for a "busy" path.
   */
  function run(guestPaths: string[], mounted: string[], busy = '') {
    const bin = path.join(tmp, `bin-${Math.random().toString(36).slice(2)}`);
    mkdirSync(bin);
    const calls = path.join(bin, 'calls');
    writeFileSync(path.join(bin, 'mounts'), mounted.join('\n') + '\n');
    writeFileSync(calls, '');
    // stat -c %d P: a mount point gets device 2, anything else (and its parent) device 1.
    writeFileSync(path.join(bin, 'stat'), `#!/bin/sh\np=$3\ngrep -qxF -- "$p" ${bin}/mounts && echo 2 || echo 1\n`);
    writeFileSync(path.join(bin, 'umount'), `#!/bin/sh\necho "umount $1" >> ${calls}\n[ "$1" != ${JSON.stringify(busy)} ]\n`);
    writeFileSync(path.join(bin, 'sync'), `#!/bin/sh\necho sync >> ${calls}\n`);
    for (const f of ['stat', 'umount', 'sync']) chmodSync(path.join(bin, f), 0o755);
    const cmd = quiesceCommand(guestPaths);
    const r = spawnSync('sh', ['-c', cmd], { env: { PATH: `${bin}:/usr/bin:/bin` } });
    return { code: r.status, stderr: r.stderr.toString(), calls: readFileSync(calls, 'utf8').trim().split('\n') };
  }

  it('flushes, then unmounts the mounted shares deepest first', () => {
    const r = run(['/home/Jane Doe.t', "/home/Jane Doe.t/it's", '/srv'], ['/home/Jane Doe.t', "/home/Jane Doe.t/it's"]);
    expect(r.code).toBe(0);
    expect(r.calls).toEqual(['sync', "umount /home/Jane Doe.t/it's", 'umount /home/Jane Doe.t']);
  });

  it('stops at a share that will not unmount, exit 3 with its path', () => {
    const r = run(['/a', '/b c'], ['/a', '/b c'], '/b c');
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe('/b c');
    // The caller mounts back what went before it (mountShares mounts whatever is not mounted).
    expect(r.calls).toEqual(['sync', 'umount /a', 'umount /b c']);
  });

  it('is plain sh', () => {
    execFileSync('sh', ['-n', '-c', quiesceCommand(['/x y', "/q'"])]);
  });
});
