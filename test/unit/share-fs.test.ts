import { describe, expect, it } from 'vitest';
import { askedShareFs, chooseShareFs, type ShareHost } from '../../src/drivers/qemu/share-fs.js';
import { virtiofsdArgv, virtiofsdOptValue } from '../../src/drivers/qemu/virtiofsd.js';
import { chooseNamespace } from '../../src/drivers/qemu/virtiofsd-namespace.js';
import { parseRunState } from '../../src/drivers/qemu/state-file.js';

const able: ShareHost = { forced: 'virtiofs', virtiofsd: '/usr/lib/qemu/virtiofsd', qemuVirtiofs: true, qemuVirtfs: true };
const shares = [{ hostPath: '/home/me' }];

describe('which file system carries the shares', () => {
  it('9p by default, without a word, even where virtiofs could run', () => {
    const { forced: _, ...unasked } = able;
    expect(chooseShareFs(unasked, shares)).toEqual({ fs: '9p' });
    expect(chooseShareFs({ ...able, forced: '' }, shares)).toEqual({ fs: '9p' });
  });

  it('virtiofs when asked for (SKIFF_SHARE_FS=virtiofs) and the host can run it, without a word', () => {
    expect(chooseShareFs(able, shares)).toEqual({ fs: 'virtiofs' });
  });

  it('asked for virtiofs: 9p, saying why, where virtiofsd or the QEMU device is missing, or virtiofsd would not start', () => {
    const { virtiofsd: _, ...noDaemon } = able;
    expect(chooseShareFs(noDaemon, shares)).toEqual({ fs: '9p', notice: expect.stringMatching(/^shared folders use 9p, which is slower: virtiofsd was not found/) });
    expect(chooseShareFs({ ...able, qemuVirtiofs: false }, shares)).toEqual({ fs: '9p', notice: expect.stringContaining('no vhost-user-fs-pci') });
    expect(chooseShareFs({ ...able, virtiofsdProblem: 'setgroups() failed with error=1:Operation not permitted' }, shares)).toEqual({
      fs: '9p',
      notice:
        'shared folders use 9p, which is slower: virtiofsd does not start here (setgroups() failed with error=1:Operation not permitted): install uidmap and give your user a range in /etc/subgid',
    });
    expect(chooseShareFs({ ...able, virtiofsdProblem: 'fuse: no /dev/fuse' }, shares).notice).toBe('shared folders use 9p, which is slower: virtiofsd does not start here (fuse: no /dev/fuse)');
  });

  it('9p for a share under /run, which virtiofsd sees hidden behind its own /run', () => {
    expect(chooseShareFs(able, [...shares, { hostPath: '/run/user/1000/x' }]).fs).toBe('9p');
    expect(chooseShareFs(able, [{ hostPath: '/runner/x' }]).fs).toBe('virtiofs');
  });

  it("the machine's shareFs setting asks, and SKIFF_SHARE_FS, when set and not empty, overrides it", () => {
    expect(askedShareFs(undefined, {})).toEqual({});
    expect(askedShareFs('virtiofs', {})).toEqual({ forced: 'virtiofs', forcedBy: 'config' });
    expect(askedShareFs('virtiofs', { SKIFF_SHARE_FS: '9p' })).toEqual({ forced: '9p', forcedBy: 'env' });
    expect(askedShareFs('virtiofs', { SKIFF_SHARE_FS: '' })).toEqual({ forced: 'virtiofs', forcedBy: 'config' });
    expect(askedShareFs(undefined, { SKIFF_SHARE_FS: 'virtiofs' })).toEqual({ forced: 'virtiofs', forcedBy: 'env' });
    expect(chooseShareFs({ ...able, forcedBy: 'config' }, shares)).toEqual({ fs: 'virtiofs' });
  });

  it('SKIFF_SHARE_FS=9p is 9p quietly; an unknown value is named and 9p used', () => {
    expect(chooseShareFs({ ...able, forced: '9p' }, shares)).toEqual({ fs: '9p' });
    expect(chooseShareFs({ ...able, forced: 'virtiofs' }, shares)).toEqual({ fs: 'virtiofs' });
    expect(chooseShareFs({ ...able, forced: 'nfs' }, shares)).toEqual({ fs: '9p', notice: expect.stringContaining('SKIFF_SHARE_FS=nfs') });
  });

  it('no shares at all, said, when neither is possible', () => {
    const r = chooseShareFs({ ...able, qemuVirtiofs: false, qemuVirtfs: false }, shares);
    expect(r.fs).toBe('none');
    expect(r.notice).toMatch(/\(\/home\/me\) are not mounted: .*no virtfs/);
    expect(chooseShareFs({ ...able, forced: '9p', qemuVirtfs: false }, shares)).toEqual({ fs: 'none', notice: expect.stringContaining("virtiofs may serve them: shareFs: virtiofs in the machine's config.yaml") });
    expect(chooseShareFs({ qemuVirtiofs: false, qemuVirtfs: false }, shares).notice).toMatch(/no virtfs \(9p\) support$/);
    expect(chooseShareFs({ ...able, forced: '9p', qemuVirtfs: false }, shares).fs).toBe('none');
  });
});

describe('virtiofsd command line', () => {
  it("escapes virtiofsd's option separators in the source path", () => {
    expect(virtiofsdOptValue('/a b,c\\d')).toBe('/a b\\,c\\\\d');
  });

  it('runs in a user namespace unless skiff is root, with every value its own argument', () => {
    const a = virtiofsdArgv('/usr/lib/qemu/virtiofsd', { hostPath: '/h/a,b', readOnly: true }, '/run/s/vfs0.sock', 'self');
    expect(a.slice(0, 3)).toEqual(['-rm', 'sh', '-c']);
    expect(a.slice(4)).toEqual(['sh', '/h/a,b', 'ro', '/usr/lib/qemu/virtiofsd', '/run/s/vfs0.sock', '/h/a\\,b']);
    expect(virtiofsdArgv('/v', { hostPath: '/h', readOnly: false }, '/s', 'root').slice(0, 2)).toEqual(['-m', 'sh']);
    expect(virtiofsdArgv('/v', { hostPath: '/h', readOnly: false }, '/s', 'subgid').slice(0, 4)).toEqual(['--map-root-user', '--map-groups=auto', '-m', 'sh']);
  });

  it('maps subordinate gids (setgroups stays allowed) only for a user who has a range, newgidmap and an unshare that takes --map-groups', () => {
    const user = { uid: 1000, user: 'jane', subgid: 'bob:100000:65536\njane:165536:65536\n', newgidmap: true, unshareMapsGroups: true };
    expect(chooseNamespace(user)).toBe('subgid');
    expect(chooseNamespace({ ...user, subgid: '1000:165536:65536\n' })).toBe('subgid');
    expect(chooseNamespace({ ...user, uid: 0 })).toBe('root');
    expect(chooseNamespace({ ...user, subgid: 'bob:100000:65536\njaneway:1:2\n' })).toBe('self');
    expect(chooseNamespace({ ...user, subgid: undefined })).toBe('self');
    expect(chooseNamespace({ ...user, newgidmap: false })).toBe('self');
    expect(chooseNamespace({ ...user, unshareMapsGroups: false })).toBe('self');
  });
});

describe('run state', () => {
  const st = { version: 1, pid: 10, sshPort: 2222, accel: 'tcg', qmpSocket: '/q', startedAt: 'now' };
  it('keeps the share file system it records, and reads an older record without it', () => {
    expect(parseRunState(JSON.stringify({ ...st, shareFs: 'virtiofs' }))?.shareFs).toBe('virtiofs');
    expect(parseRunState(JSON.stringify(st))?.shareFs).toBeUndefined();
    expect(parseRunState(JSON.stringify({ ...st, shareFs: 'nfs' }))?.shareFs).toBeUndefined();
  });
});
