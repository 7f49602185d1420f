import { describe, expect, it } from 'vitest';
import { buildQemuArgv, type QemuArgvInput } from '../../src/drivers/qemu/argv.js';

const base: QemuArgvInput = {
  name: 'default',
  arch: 'x86_64',
  accel: 'tcg',
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
      'if=virtio,file=/m/driver/data.qcow2,format=qcow2',
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

  it('aarch64 uses the virt machine', () => {
    const a = buildQemuArgv({ ...base, arch: 'aarch64' });
    expect(values(a, '-machine')).toEqual(['virt']);
    expect(values(a, '-cpu')).toEqual(['max']);
    expect(values(a, '-drive')).toHaveLength(2);
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
    expect(values(a, '-drive')[0]).toBe('if=virtio,file=/a,,b/data.qcow2,format=qcow2');
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
