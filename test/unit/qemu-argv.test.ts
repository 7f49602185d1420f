import { describe, expect, it } from 'vitest';
import { buildQemuArgv, cpuModel, withoutFsDevices, type QemuArgvInput } from '../../src/drivers/qemu/argv.js';
import { withBinfmt } from '../../src/drivers/qemu/driver.js';

const base: QemuArgvInput = {
  name: 'default',
  arch: 'x86_64',
  accel: 'tcg',
  qemuVersion: '7.2.22',
  cpus: 2,
  memoryMiB: 2048,
  kernel: '/m/driver/boot/vmlinuz',
  initrd: '/m/driver/boot/initrd.img',
  append: 'console=ttyS0 quiet',
  dataDisk: '/m/driver/data.qcow2',
  isoPath: '/cache/skiff-amd64.iso',
  sshPort: 40022,
  qmpSocket: '/run/s/qmp.sock',
  consoleLog: '/m/console.log',
  pidFile: '/run/s/qemu.pid',
  shares: [],
  shareFs: '9p',
  daemonize: true,
};

/** The value following each occurrence of `flag`. */
function values(argv: string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === flag ? [argv[i + 1] ?? ''] : []));
}

describe('buildQemuArgv', () => {
  it('x86_64 under TCG: q35, cpu max, direct kernel boot, data disk before ISO', () => {
    const a = buildQemuArgv(base);
    expect(values(a, '-machine')).toEqual(['q35']);
    expect(values(a, '-accel')).toEqual(['tcg,thread=single']);
    expect(values(a, '-cpu')).toEqual(['max']);
    expect(values(a, '-smp')).toEqual(['2']);
    expect(values(a, '-m')).toEqual(['2048']);
    expect(values(a, '-kernel')).toEqual(['/m/driver/boot/vmlinuz']);
    expect(values(a, '-initrd')).toEqual(['/m/driver/boot/initrd.img']);
    expect(values(a, '-append')).toEqual(['console=ttyS0 quiet']);
    expect(values(a, '-drive')).toEqual([
      'if=virtio,file=/m/driver/data.qcow2,format=qcow2,werror=stop,rerror=stop',
      'if=virtio,file=/cache/skiff-amd64.iso,format=raw,readonly=on',
    ]);
    expect(values(a, '-rtc')).toEqual(['base=utc']);
    expect(values(a, '-display')).toEqual(['none']);
    expect(a).toContain('-nodefaults');
    expect(a).toContain('-daemonize');
  });

  it('forwards the SSH port on 127.0.0.1 only, with virtio net and rng', () => {
    const a = buildQemuArgv({ ...base, sshPort: 51234 });
    expect(values(a, '-netdev')).toEqual(['user,id=n0,hostfwd=tcp:127.0.0.1:51234-:22']);
    expect(values(a, '-device')).toEqual(['virtio-net-pci,netdev=n0', 'virtio-rng-pci']);
  });

  it('wires console, QMP and pid file', () => {
    const a = buildQemuArgv(base);
    expect(values(a, '-serial')).toEqual(['file:/m/console.log']);
    expect(values(a, '-qmp')).toEqual(['unix:/run/s/qmp.sock,server=on,wait=off']);
    expect(values(a, '-pidfile')).toEqual(['/run/s/qemu.pid']);
    expect(values(a, '-name')).toEqual(['skiff-default']);
  });

  it('uses the host CPU under KVM and HVF', () => {
    for (const accel of ['kvm', 'hvf'] as const) {
      const a = buildQemuArgv({ ...base, accel });
      expect(values(a, '-accel')).toEqual([accel]);
      expect(values(a, '-cpu')).toEqual(['host']);
    }
  });

  it('aarch64 uses the virt machine with the newest GIC, PCI virtio devices and the first serial (PL011)', () => {
    const a = buildQemuArgv({ ...base, arch: 'aarch64', append: 'console=ttyAMA0 quiet' });
    expect(values(a, '-machine')).toEqual(['virt,gic-version=max']);
    expect(values(a, '-cpu')).toEqual(['max,pauth-impdef=on']);
    expect(values(a, '-drive')).toHaveLength(2);
    expect(values(a, '-device')).toEqual(['virtio-net-pci,netdev=n0', 'virtio-rng-pci']);
    expect(values(a, '-serial')).toEqual(['file:/m/console.log']);
    expect(values(a, '-append')).toEqual(['console=ttyAMA0 quiet']);
  });

  it('adds one virtfs per share, read-only where asked', () => {
    const a = buildQemuArgv({
      ...base,
      shares: [
        { hostPath: '/home/u/src', guestPath: '/home/u/src', readOnly: false, tag: 'share0' },
        { hostPath: '/data', guestPath: '/data', readOnly: true, tag: 'share1' },
      ],
    });
    expect(values(a, '-virtfs')).toEqual([
      'local,path=/home/u/src,mount_tag=share0,security_model=none',
      'local,path=/data,mount_tag=share1,security_model=none,readonly=on',
    ]);
    expect(values(buildQemuArgv(base), '-virtfs')).toEqual([]);
  });

  it('escapes commas in paths inside option values', () => {
    const a = buildQemuArgv({ ...base, dataDisk: '/a,b/data.qcow2', qmpSocket: '/r,s/qmp.sock' });
    expect(values(a, '-drive')[0]).toBe('if=virtio,file=/a,,b/data.qcow2,format=qcow2,werror=stop,rerror=stop');
    expect(values(a, '-qmp')).toEqual(['unix:/r,,s/qmp.sock,server=on,wait=off']);
  });

  it('omits -daemonize when asked to stay in the foreground', () => {
    expect(buildQemuArgv({ ...base, daemonize: false })).not.toContain('-daemonize');
  });

  it('puts a private-network NIC on a 127.0.0.1 multicast socket with its own MAC, after the user-net NIC', () => {
    const a = buildQemuArgv({ ...base, privateNic: { mac: '02:53:4b:0a:0b:0c', mcastGroup: '239.1.2.3', mcastPort: 40123, intnet: 'x' } });
    expect(values(a, '-netdev')).toEqual([
      'user,id=n0,hostfwd=tcp:127.0.0.1:40022-:22',
      'socket,id=n1,mcast=239.1.2.3:40123,localaddr=127.0.0.1',
    ]);
    expect(values(a, '-device').filter((d) => d.startsWith('virtio-net'))).toEqual([
      'virtio-net-pci,netdev=n0',
      'virtio-net-pci,netdev=n1,mac=02:53:4b:0a:0b:0c',
    ]);
    expect(values(buildQemuArgv(base), '-netdev')).toHaveLength(1);
  });
});

describe('cpuModel', () => {
  it('takes the host CPU with a hypervisor, whatever the architecture', () => {
    expect(cpuModel('x86_64', 'kvm', '7.2.0')).toBe('host');
    expect(cpuModel('aarch64', 'hvf', '9.1.0')).toBe('host');
  });
  it('x86_64 under TCG: max', () => {
    expect(cpuModel('x86_64', 'tcg', '7.2.0')).toBe('max');
  });
  it('aarch64 under TCG: max with the cheap pointer-auth cipher where QEMU has it, else cortex-a72', () => {
    expect(cpuModel('aarch64', 'tcg', '7.2.22')).toBe('max,pauth-impdef=on');
    expect(cpuModel('aarch64', 'tcg', '10.0.3')).toBe('max,pauth-impdef=on');
    expect(cpuModel('aarch64', 'tcg', '6.0')).toBe('max,pauth-impdef=on');
    expect(cpuModel('aarch64', 'tcg', '5.2.0')).toBe('cortex-a72');
  });
});

describe('withBinfmt', () => {
  it('appends skiff.binfmt=1 or =0 so the config decides at every start', () => {
    expect(withBinfmt('console=ttyS0 quiet', true)).toBe('console=ttyS0 quiet skiff.binfmt=1');
    expect(withBinfmt('console=ttyS0 quiet', false)).toBe('console=ttyS0 quiet skiff.binfmt=0');
  });
  it("replaces an image's own value instead of adding a second one", () => {
    expect(withBinfmt('console=ttyAMA0 skiff.binfmt=1 panic=5', false)).toBe('console=ttyAMA0 panic=5 skiff.binfmt=0');
  });
});

/** The base machine with two shares over virtiofs, one socket each (a comma in one path). */
const vfs: QemuArgvInput = {
  ...base,
  shares: [
    { hostPath: '/home/Jane Doe', guestPath: '/home/Jane Doe', readOnly: false, tag: 'share0' },
    { hostPath: '/srv/data', guestPath: '/data', readOnly: true, tag: 'share1' },
  ],
  shareFs: 'virtiofs',
  virtiofsSockets: ['/run/s/vfs0.sock', '/run/s,x/vfs1.sock'],
};

describe('virtiofs on the QEMU command line', () => {
  it('shares guest RAM through a memfd, and gives each share a root port, a socket chardev and a vhost-user-fs device', () => {
    const a = buildQemuArgv(vfs);
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
    const a = buildQemuArgv({ ...vfs, arch: 'aarch64' });
    expect(values(a, '-machine')).toEqual(['virt,gic-version=max,memory-backend=mem']);
  });

  it("a resume's command line keeps the root ports and leaves the devices out: exactly a saved command line without them", () => {
    const cold = buildQemuArgv(vfs);
    const resumed = buildQemuArgv({ ...vfs, fsDevices: false });
    expect(values(resumed, '-chardev')).toEqual([]);
    expect(values(resumed, '-device').filter((d) => d.startsWith('pcie-root-port'))).toHaveLength(2);
    expect(values(resumed, '-device').some((d) => d.startsWith('vhost-user-fs-pci'))).toBe(false);
    expect(withoutFsDevices(cold)).toEqual(resumed);
    expect(withoutFsDevices(resumed)).toEqual(resumed);
  });

  it('9p, or no shares at all, leaves RAM private and adds no root ports', () => {
    const ninep = buildQemuArgv({ ...vfs, shareFs: '9p' });
    expect(values(ninep, '-machine')).toEqual(['q35']);
    expect(values(ninep, '-object')).toEqual([]);
    expect(values(ninep, '-virtfs')).toHaveLength(2);
    expect(withoutFsDevices(ninep)).toEqual(ninep);
    const none = buildQemuArgv({ ...vfs, shares: [] });
    expect(values(none, '-machine')).toEqual(['q35']);
    expect(values(none, '-device').some((d) => d.startsWith('pcie-root-port'))).toBe(false);
  });

  it('refuses a virtiofs share without its socket rather than start QEMU with a half device', () => {
    expect(() => buildQemuArgv({ ...vfs, virtiofsSockets: ['/run/s/vfs0.sock'] })).toThrow(/no virtiofsd socket for share share1/);
  });
});
