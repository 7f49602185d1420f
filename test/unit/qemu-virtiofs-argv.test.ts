import { describe, expect, it } from 'vitest';
import { buildQemuArgv, withoutFsDevices, type QemuArgvInput } from '../../src/drivers/qemu/argv.js';

const base: QemuArgvInput = {
  name: 'default',
  arch: 'x86_64',
  accel: 'tcg',
  qemuVersion: '7.2.22',
  cpus: 2,
  memoryMiB: 2048,
  kernel: '/m/boot/vmlinuz',
  initrd: '/m/boot/initrd.img',
  append: 'console=ttyS0',
  dataDisk: '/m/data.qcow2',
  isoPath: '/c/skiff.iso',
  sshPort: 40022,
  qmpSocket: '/run/s/qmp.sock',
  consoleLog: '/m/console.log',
  pidFile: '/run/s/qemu.pid',
  shares: [
    { hostPath: '/home/Jane Doe', guestPath: '/home/Jane Doe', readOnly: false, tag: 'share0' },
    { hostPath: '/srv/data', guestPath: '/data', readOnly: true, tag: 'share1' },
  ],
  shareFs: 'virtiofs',
  virtiofsSockets: ['/run/s/vfs0.sock', '/run/s,x/vfs1.sock'],
  daemonize: true,
};

const values = (argv: string[], flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1] ?? ''] : []));

describe('virtiofs on the QEMU command line', () => {
  it('shares guest RAM through a memfd, and gives each share a root port, a socket chardev and a vhost-user-fs device', () => {
    const a = buildQemuArgv(base);
    expect(values(a, '-machine')).toEqual(['q35,memory-backend=mem']);
    expect(values(a, '-object')).toEqual(['memory-backend-memfd,id=mem,size=2048M,share=on']);
    expect(values(a, '-chardev')).toEqual(['socket,id=vfs0,path=/run/s/vfs0.sock', 'socket,id=vfs1,path=/run/s,,x/vfs1.sock']);
    expect(values(a, '-device').filter((d) => !d.startsWith('virtio-'))).toEqual([
      'pcie-root-port,id=vfsport0,chassis=1',
      'vhost-user-fs-pci,id=vfsdev0,chardev=vfs0,tag=share0,bus=vfsport0',
      'pcie-root-port,id=vfsport1,chassis=2',
      'vhost-user-fs-pci,id=vfsdev1,chardev=vfs1,tag=share1,bus=vfsport1',
    ]);
    expect(values(a, '-virtfs')).toEqual([]);
  });

  it('aarch64 takes the same parts on its virt machine', () => {
    const a = buildQemuArgv({ ...base, arch: 'aarch64' });
    expect(values(a, '-machine')).toEqual(['virt,gic-version=max,memory-backend=mem']);
  });

  it("a resume's command line keeps the root ports and leaves the devices out: exactly a saved command line without them", () => {
    const cold = buildQemuArgv(base);
    const resumed = buildQemuArgv({ ...base, fsDevices: false });
    expect(values(resumed, '-chardev')).toEqual([]);
    expect(values(resumed, '-device').filter((d) => d.startsWith('pcie-root-port'))).toHaveLength(2);
    expect(values(resumed, '-device').some((d) => d.startsWith('vhost-user-fs-pci'))).toBe(false);
    expect(withoutFsDevices(cold)).toEqual(resumed);
    expect(withoutFsDevices(resumed)).toEqual(resumed);
  });

  it('9p, or no shares at all, leaves RAM private and adds no root ports', () => {
    const ninep = buildQemuArgv({ ...base, shareFs: '9p' });
    expect(values(ninep, '-machine')).toEqual(['q35']);
    expect(values(ninep, '-object')).toEqual([]);
    expect(values(ninep, '-virtfs')).toHaveLength(2);
    expect(withoutFsDevices(ninep)).toEqual(ninep);
    const none = buildQemuArgv({ ...base, shares: [] });
    expect(values(none, '-machine')).toEqual(['q35']);
    expect(values(none, '-device').some((d) => d.startsWith('pcie-root-port'))).toBe(false);
  });

  it('refuses a virtiofs share without its socket rather than start QEMU with a half device', () => {
    expect(() => buildQemuArgv({ ...base, virtiofsSockets: ['/run/s/vfs0.sock'] })).toThrow(/no virtiofsd socket for share share1/);
  });
});
