import type { Arch, PrivateNic, Share, ShareFs } from '../driver.js';

/** The user-network NIC's id, which the agent names to add UDP forwards at run time. */
export const USER_NETDEV = 'n0';

export type Accel = 'kvm' | 'hvf' | 'tcg';

/** The file systems QEMU can serve a share with. */
export type QemuShareFs = Exclude<ShareFs, 'vboxsf'>;

/** Device ids of share i's virtiofs parts: QMP unplugs and plugs them by these names. */
export function virtiofsIds(i: number): { port: string; chardev: string; device: string } {
  return { port: `vfsport${i}`, chardev: `vfs${i}`, device: `vfsdev${i}` };
}

/** The -chardev and -device values that plug share i's virtiofs device into its root port. */
export function virtiofsDevice(i: number, share: Share, socket: string): { chardev: string; device: string } {
  const id = virtiofsIds(i);
  return {
    chardev: `socket,id=${id.chardev},path=${optValue(socket)}`,
    device: `vhost-user-fs-pci,id=${id.device},chardev=${id.chardev},tag=${share.tag},bus=${id.port}`,
  };
}

/** Everything the QEMU command line depends on; nothing is read from the environment. */
export interface QemuArgvInput {
  name: string;
  arch: Arch;
  accel: Accel;
  /** "7.2.22": picks the emulated CPU model under TCG (see cpuModel). */
  qemuVersion: string;
  cpus: number;
  memoryMiB: number;
  kernel: string;
  initrd: string;
  /** The kernel command line (the ISO's /boot/cmdline). */
  append: string;
  dataDisk: string;
  isoPath: string;
  /** Host port on 127.0.0.1 forwarded to the guest's sshd (22). */
  sshPort: number;
  qmpSocket: string;
  consoleLog: string;
  pidFile: string;
  shares: Share[];
  /**
   * How the shares reach the guest. virtiofs: each share's virtiofsd listens on
   * virtiofsSockets[i]; fsDevices false leaves out the devices but keeps their
   * root ports (a resume: they are plugged in once QEMU runs, see fs-hotplug.ts).
   */
  shareFs: QemuShareFs;
  virtiofsSockets?: string[];
  fsDevices?: boolean;
  /** A second NIC on a skiff private network. */
  privateNic?: PrivateNic;
  /** Fork into the background once QEMU is set up, so startup errors still reach the caller. */
  daemonize: boolean;
}

/** The argv (without the binary) for one boot of the machine. Pure, so it is unit-tested. */
export function buildQemuArgv(i: QemuArgvInput): string[] {
  const a: string[] = ['-name', `skiff-${i.name}`];
  // virt: gic-version=max takes the newest interrupt controller the accelerator offers (TCG and KVM alike).
  const machine = i.arch === 'x86_64' ? 'q35' : 'virt,gic-version=max';
  const virtiofs = i.shareFs === 'virtiofs' && i.shares.length > 0;
  // vhost-user-fs maps guest RAM into virtiofsd: the RAM must be a shareable memfd.
  a.push('-machine', virtiofs ? `${machine},memory-backend=mem` : machine);
  // Multi-threaded TCG races the guest kernel's live code patching (int3-based
  // text_poke for static keys, flipped as containers start): the guest dies in
  // "Oops: int3". It boots a third faster, but no kernel argument keeps every
  // such key still (bench/tcg.results.md, bench/tcg-nokeys.results.md, and
  // bench/ANALYSIS.md). One TCG thread for all vCPUs does not race.
  a.push('-accel', i.accel === 'tcg' ? 'tcg,thread=single' : i.accel);
  a.push('-cpu', cpuModel(i.arch, i.accel, i.qemuVersion));
  a.push('-smp', String(i.cpus), '-m', String(i.memoryMiB));
  // After -m, so a saved state that no longer fits names the memory size first, not this.
  if (virtiofs) a.push('-object', `memory-backend-memfd,id=mem,size=${i.memoryMiB}M,share=on`);
  a.push('-nodefaults', '-display', 'none');
  a.push('-rtc', 'base=utc');
  a.push('-kernel', i.kernel, '-initrd', i.initrd, '-append', i.append);
  // Data disk first, ISO second: the guest contract (it still finds both by content).
  // A write or read the host cannot complete (its disk full, an I/O error) pauses
  // the VM instead of handing the guest an error it would answer by remounting
  // read-only or corrupting a file: `cont` retries the request (drivers/pause.ts).
  a.push('-drive', `if=virtio,file=${optValue(i.dataDisk)},format=qcow2,werror=stop,rerror=stop`);
  a.push('-drive', `if=virtio,file=${optValue(i.isoPath)},format=raw,readonly=on`);
  a.push('-netdev', `user,id=${USER_NETDEV},hostfwd=tcp:127.0.0.1:${i.sshPort}-:22`);
  a.push('-device', 'virtio-net-pci,netdev=n0');
  if (i.privateNic) {
    // The segment is a UDP multicast group joined on 127.0.0.1: frames never leave the host.
    const { mcastGroup, mcastPort, mac } = i.privateNic;
    a.push('-netdev', `socket,id=n1,mcast=${mcastGroup}:${mcastPort},localaddr=127.0.0.1`);
    a.push('-device', `virtio-net-pci,netdev=n1,mac=${mac}`);
  }
  a.push('-device', 'virtio-rng-pci');
  if (virtiofs) {
    i.shares.forEach((s, n) => {
      // A device of its own root port can be unplugged: QEMU 7.2 will not save a VM with one attached (suspend).
      a.push('-device', `pcie-root-port,id=${virtiofsIds(n).port},chassis=${n + 1}`);
      if (i.fsDevices === false) return;
      const socket = i.virtiofsSockets?.[n];
      if (socket === undefined) throw new Error(`no virtiofsd socket for share ${s.tag}`);
      const d = virtiofsDevice(n, s, socket);
      a.push('-chardev', d.chardev, '-device', d.device);
    });
  } else {
    for (const s of i.shares) {
      a.push(
        '-virtfs',
        `local,path=${optValue(s.hostPath)},mount_tag=${s.tag},security_model=none${s.readOnly ? ',readonly=on' : ''}`,
      );
    }
  }
  a.push('-serial', `file:${i.consoleLog}`);
  a.push('-qmp', `unix:${optValue(i.qmpSocket)},server=on,wait=off`);
  a.push('-pidfile', i.pidFile);
  if (i.daemonize) a.push('-daemonize');
  return a;
}

/** A command line without its virtiofs devices and their sockets (the root ports stay): what a saved VM is loaded with. */
export function withoutFsDevices(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [k, v = ''] = [argv[i]!, argv[i + 1]];
    if ((k === '-chardev' && /^socket,id=vfs\d+,/.test(v)) || (k === '-device' && v.startsWith('vhost-user-fs-pci,'))) {
      i++;
      continue;
    }
    out.push(k);
  }
  return out;
}

/**
 * -cpu host is only meaningful with a hypervisor. Under TCG, x86_64 takes "max"
 * (every emulated feature). aarch64's "max" emulates pointer authentication with
 * the architected QARMA cipher, which made the guest more than twice as slow to
 * ready here (38.8 s against 16.1-17.6 s for the others, bench/iso.results.md);
 * pauth-impdef=on (QEMU >= 6.0) keeps the feature with a cheap
 * implementation-defined cipher. Older QEMUs get cortex-a72.
 */
export function cpuModel(arch: Arch, accel: Accel, qemuVersion: string): string {
  if (accel !== 'tcg') return 'host';
  if (arch === 'x86_64') return 'max';
  const [major = 0] = qemuVersion.split('.').map(Number);
  return major >= 6 ? 'max,pauth-impdef=on' : 'cortex-a72';
}

/** QEMU splits option values on ","; a literal comma in a path is written ",,". */
function optValue(v: string): string {
  return v.replaceAll(',', ',,');
}
