// The stand-in's "hardware": with FAKE_VBOX_QEMU=/path/to/qemu-system-x86_64, startvm
// boots the VM in QEMU with the devices VirtualBox would present for its settings,
// so the guest side of the VirtualBox path (BIOS, isolinux from a SATA CD, the
// initramfs's fallback drivers, the data disk on SATA, the NIC type) really runs.
//
// What maps to what (VirtualBox -> QEMU):
//   chipset piix3, BIOS firmware      -> -machine pc (i440FX + PIIX3), SeaBIOS
//   storagectl sata IntelAhci         -> ich9-ahci; port N -> its bus N
//   dvddrive / hdd on port N          -> ide-cd / ide-hd on that AHCI port
//   --boot1 dvd --boot2 disk          -> bootindex 0 on the CD, 1 on the disk
//   data disk (dynamic VDI)           -> the same VDI file, QEMU's vdi driver
//   --nic1 nat --natpf1 rule          -> -netdev user with hostfwd for each TCP rule
//   --nictype1 virtio | 82540EM | 82545EM -> virtio-net-pci | e1000 | e1000-82545em
//   --uart1 0x3F8 4 --uartmode1 file F -> -serial file:F (COM1)
//   controlvm acpipowerbutton / poweroff -> QMP system_powerdown / quit
// Not mapped: internal networks (--nic2 intnet), shared folders (vboxsf has no QEMU
// counterpart), the paravirt provider, audio, USB.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const NIC_MODELS = { virtio: 'virtio-net-pci', '82540EM': 'e1000', '82545EM': 'e1000-82545em', '82543GC': 'e1000-82544gc' };

export function qemuBinary(env) {
  return env.FAKE_VBOX_QEMU || undefined;
}

/** convertfromraw: a real dynamic VDI, as VirtualBox writes one. */
export function rawToVdi(src, dst) {
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vdi', src, dst]);
}

/** modifymedium --resize: qemu-img cannot resize a VDI, so raw (sparse) and back, under a temp name. */
export function growVdi(file, mib) {
  const raw = `${file}.${process.pid}.raw`;
  const tmp = `${file}.${process.pid}.vdi`;
  try {
    execFileSync('qemu-img', ['convert', '-q', '-f', 'vdi', '-O', 'raw', file, raw]);
    fs.truncateSync(raw, mib * 1024 * 1024);
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vdi', raw, tmp]);
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(raw, { force: true });
    fs.rmSync(tmp, { force: true });
  }
}

export function qemuArgv(vm, runDir) {
  // One TCG thread, as skiff's QEMU driver: QEMU's default for an x86_64 guest is
  // multi-threaded TCG, under which the guest kernel can die in "Oops: int3"
  // (bench/ANALYSIS.md; bench/tcg-nokeys.results.md: one boot in 50, even with the
  // two static keys of the first oops kept still).
  const argv = ['-machine', 'pc', '-accel', 'tcg,thread=single', '-cpu', 'max', '-smp', String(vm.cpus), '-m', String(vm.memory), '-display', 'none', '-no-user-config', '-nodefaults'];
  const bootIndex = { dvddrive: vm.boot.indexOf('dvd'), hdd: vm.boot.indexOf('disk') };
  vm.controllers.forEach((c, ci) => {
    if (c.bus !== 'sata') throw new Error(`fake VBoxManage: only SATA controllers boot in QEMU, not ${c.bus}`);
    argv.push('-device', `ich9-ahci,id=sata${ci}`);
    for (const [key, a] of Object.entries(c.attachments)) {
      if (a.medium === 'emptydrive') continue;
      const port = key.split('-')[0];
      const id = `sata${ci}p${port}`;
      const boot = bootIndex[a.type] >= 0 ? `,bootindex=${bootIndex[a.type]}` : '';
      if (a.type === 'dvddrive') {
        argv.push('-drive', `if=none,id=${id},file=${a.medium},format=raw,media=cdrom,readonly=on`);
        argv.push('-device', `ide-cd,bus=sata${ci}.${port},drive=${id}${boot}`);
      } else {
        argv.push('-drive', `if=none,id=${id},file=${a.medium},format=vdi`);
        argv.push('-device', `ide-hd,bus=sata${ci}.${port},drive=${id}${boot}`);
      }
    }
  });
  const nic = vm.nics[1];
  if (nic && nic.type === 'nat') {
    const fwd = nic.rules.filter((r) => r.proto === 'tcp').map((r) => `,hostfwd=tcp:${r.hostIp || ''}:${r.hostPort}-${r.guestIp || ''}:${r.guestPort}`).join('');
    const model = NIC_MODELS[nic.nictype];
    if (!model) throw new Error(`fake VBoxManage: no QEMU model for NIC type ${nic.nictype}`);
    argv.push('-netdev', `user,id=nat1${fwd}`, '-device', `${model},netdev=nat1,mac=${macOf(nic.mac ?? '080027000001')}`);
  }
  const uart = vm.uarts[1];
  argv.push('-serial', uart?.mode?.startsWith('file,') ? `file:${uart.mode.slice(5)}` : 'null');
  argv.push('-qmp', `unix:${qmpPath(runDir, vm)},server=on,wait=off`, '-pidfile', pidPath(runDir, vm), '-daemonize');
  return argv;
}

function macOf(hex) {
  return hex.match(/../g).join(':').toLowerCase();
}
const qmpPath = (runDir, vm) => path.join(runDir, `${vm.uuid.slice(0, 8)}.qmp`);
const pidPath = (runDir, vm) => path.join(runDir, `${vm.uuid.slice(0, 8)}.pid`);

/** Boots the VM; returns the QEMU pid. A QEMU that refuses its argv is a stand-in bug, reported as such. */
export function launch(bin, vm, runDir) {
  fs.mkdirSync(runDir, { recursive: true });
  fs.rmSync(pidPath(runDir, vm), { force: true });
  const argv = qemuArgv(vm, runDir);
  if (process.env.FAKE_VBOX_LOG) fs.appendFileSync(process.env.FAKE_VBOX_LOG.replace(/\.log$/, '') + '.qemu.log', JSON.stringify([bin, ...argv]) + '\n');
  const r = spawnSync(bin, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`fake VBoxManage: QEMU refused to start: ${r.stderr || r.error}`);
  return Number(fs.readFileSync(pidPath(runDir, vm), 'utf8').trim());
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** One QMP command to the VM's QEMU (after the capabilities handshake); resolves when QEMU answers or hangs up. */
export function qemu(runDir, vm, command) {
  return new Promise((resolve) => {
    const sock = net.connect(qmpPath(runDir, vm));
    let buf = '';
    let sent = false;
    sock.on('data', (d) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop();
      for (const l of lines) {
        const msg = JSON.parse(l);
        if (msg.QMP) sock.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
        else if (msg.return !== undefined && !sent) {
          sent = true;
          sock.write(JSON.stringify({ execute: command }) + '\n');
        } else if (msg.return !== undefined || msg.error) sock.end();
      }
    });
    sock.on('close', () => resolve());
    sock.on('error', () => resolve());
  });
}
