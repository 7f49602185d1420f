import { execa } from 'execa';
import { access, readdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MachineSpec } from '../../src/drivers/driver.js';
import { VirtualBoxDriver } from '../../src/drivers/virtualbox/driver.js';
import { pauseCause, resumeVm } from '../../src/drivers/pause.js';
import { SkiffError } from '../../src/errors.js';
import { FAKE_VBOX_DIR, setupFakeVBox, type FakeVBox } from '../helpers/fake-vboxmanage/fake-vbox.js';

let fake: FakeVBox;
beforeEach(async () => {
  fake = await setupFakeVBox();
});
afterEach(async () => {
  await fake.cleanup();
});

async function exists(p: string): Promise<boolean> {
  return access(p).then(() => true, () => false);
}

async function statePort(spec: MachineSpec): Promise<number> {
  return (JSON.parse(await readFile(path.join(spec.paths.driverDir, 'state.json'), 'utf8')) as { sshPort: number }).sshPort;
}

async function expectSkiffError(p: Promise<unknown>, code: string): Promise<SkiffError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(SkiffError);
  expect((e as SkiffError).code).toBe(code);
  expect((e as SkiffError).message).not.toContain('\n');
  expect((e as SkiffError).hint).toBeTruthy();
  return e as SkiffError;
}

/**
 * Nothing of the machine is left: no VM registered, no hard disk in VirtualBox's
 * media registry, no driver dir. (DVD images stay known to VirtualBox after
 * unregistervm --delete, as they do in the real one; the ISO is skiff's cache's.)
 */
async function expectNothingLeft(spec: MachineSpec): Promise<void> {
  const reg = await fake.registry();
  expect(Object.values(reg.vms)).toEqual([]);
  const media = reg.media as Record<string, { type: string }>;
  expect(Object.keys(media).filter((p) => media[p]?.type === 'hdd')).toEqual([]);
  expect(await exists(spec.paths.driverDir)).toBe(false);
}

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port }, () => resolve(srv));
  });
}

async function createdDriver(name = 'm1', opts: Parameters<FakeVBox['spec']>[1] = {}) {
  const spec = await fake.spec(name, opts);
  const driver = new VirtualBoxDriver(spec);
  await driver.create();
  await fake.clearCalls();
  return { spec, driver };
}

describe('VirtualBoxDriver create', () => {
  it('puts a private-network machine on an internal network with its MAC as nic2', async () => {
    const spec = await fake.spec('m1', {});
    const driver = new VirtualBoxDriver({ ...spec, privateNic: { mac: '02:53:4b:0a:0b:0c', mcastGroup: '239.1.2.3', mcastPort: 40123, intnet: 'skiff-swarm-1234abcd' } });
    await driver.create();
    const modify = (await fake.calls()).find((c) => c[0] === 'modifyvm');
    const at = modify!.indexOf('--nic2');
    expect(modify!.slice(at, at + 8)).toEqual(['--nic2', 'intnet', '--nictype2', 'virtio', '--intnet2', 'skiff-swarm-1234abcd', '--macaddress2', '02534B0A0B0C']);
    const info = await execa(path.join(FAKE_VBOX_DIR, 'VBoxManage'), ['showvminfo', 'skiff-m1', '--machinereadable']);
    expect(info.stdout).toContain('nic2="intnet"');
    expect(info.stdout).toContain('intnet2="skiff-swarm-1234abcd"');
    expect(info.stdout).toContain('macaddress2="02534B0A0B0C"');
    // The stand-in refuses what the real VBoxManage refuses.
    const bad = await execa(path.join(FAKE_VBOX_DIR, 'VBoxManage'), ['modifyvm', 'skiff-m1', '--macaddress2', '02:53:4b:0a:0b:0c'], { reject: false });
    expect(bad.exitCode).not.toBe(0);
  });

  it('makes the VM with exactly these VBoxManage calls (VirtualBox 7)', async () => {
    const spec = await fake.spec('m1', {
      shares: [
        { hostPath: '/home/user', guestPath: '/home/user', readOnly: false, tag: 'home' },
        { hostPath: '/srv/data', guestPath: '/data', readOnly: true, tag: 'data' },
      ],
    });
    const driver = new VirtualBoxDriver(spec);
    await driver.create();
    const dd = spec.paths.driverDir;
    const port = await statePort(spec);
    const disk = path.join(dd, 'data.vdi');
    expect(await fake.calls()).toEqual([
      ['--version'],
      ['showvminfo', 'skiff-m1', '--machinereadable'],
      ['createvm', '--name', 'skiff-m1', '--ostype', 'Linux_64', '--basefolder', dd, '--register'],
      ['modifyvm', 'skiff-m1', '--cpus', '2', '--memory', '2048', '--paravirtprovider', 'kvm', '--rtcuseutc', 'on',
        '--audio-driver', 'none', '--usb-ohci', 'off', '--boot1', 'dvd', '--boot2', 'disk', '--boot3', 'none', '--boot4', 'none',
        '--nic1', 'nat', '--nictype1', 'virtio', '--natpf1', `ssh,tcp,127.0.0.1,${port},,22`,
        '--uart1', '0x3F8', '4', '--uartmode1', 'file', spec.paths.consoleLog],
      ['storagectl', 'skiff-m1', '--name', 'SATA', '--add', 'sata', '--controller', 'IntelAhci', '--portcount', '2', '--bootable', 'on'],
      ['convertfromraw', expect.stringMatching(/\/\.data-[0-9a-f]{8}\.raw$/), expect.stringMatching(/\/\.data-[0-9a-f]{8}\.vdi$/), '--format', 'VDI'],
      ['modifymedium', 'disk', disk, '--resize', '20480'],
      ['storageattach', 'skiff-m1', '--storagectl', 'SATA', '--port', '0', '--device', '0', '--type', 'hdd', '--medium', disk],
      ['storageattach', 'skiff-m1', '--storagectl', 'SATA', '--port', '1', '--device', '0', '--type', 'dvddrive', '--medium', spec.isoPath],
      ['sharedfolder', 'add', 'skiff-m1', '--name', 'home', '--hostpath', '/home/user'],
      ['sharedfolder', 'add', 'skiff-m1', '--name', 'data', '--hostpath', '/srv/data', '--readonly'],
    ]);
    expect(port).toBeGreaterThan(0);

    const [vm] = Object.values((await fake.registry()).vms);
    expect(vm?.name).toBe('skiff-m1');
    expect(vm?.nics['1']?.nictype).toBe('virtio');
    expect(vm?.nics['1']?.rules).toEqual([{ name: 'ssh', proto: 'tcp', hostIp: '127.0.0.1', hostPort: port, guestIp: '', guestPort: 22 }]);
    expect(vm?.shares).toEqual([
      { name: 'home', hostPath: '/home/user', writable: true, automount: false },
      { name: 'data', hostPath: '/srv/data', writable: false, automount: false },
    ]);
    // The disk begins with the seed (the stand-in's image keeps the raw bytes after a 512-byte header).
    const img = await readFile(disk);
    expect(img.subarray(512, 512 + 13).toString()).toBe('skiff-seed-v1');
    expect(img.length).toBe(512 + 1024 * 1024);
    // No temp files: only the VM's folder, the disk and the state file.
    expect((await readdir(dd)).sort()).toEqual(['data.vdi', 'skiff-m1', 'state.json']);
    expect(await driver.state()).toBe('stopped');
  });

  it('uses the option names VirtualBox 6.1 knows', async () => {
    fake.set('FAKE_VBOX_VERSION', '6.1.50r161033');
    const spec = await fake.spec('m61');
    await new VirtualBoxDriver(spec).create();
    const modify = (await fake.calls()).find((c) => c[0] === 'modifyvm');
    expect(modify).toContain('--audio');
    expect(modify).toContain('--usb');
    expect(modify).not.toContain('--audio-driver');
    expect(modify).not.toContain('--usb-ohci');
  });

  it('refuses an aarch64 guest before calling VBoxManage, leaving nothing', async () => {
    const spec = { ...(await fake.spec('arm')), arch: 'aarch64' as const };
    await fake.clearCalls();
    await expectSkiffError(new VirtualBoxDriver(spec).check(), 'vbox-arch');
    await expectSkiffError(new VirtualBoxDriver(spec).create(), 'vbox-arch');
    expect(await fake.calls()).toEqual([]);
    await expectNothingLeft(spec);
  });

  it('refuses to create twice', async () => {
    const { spec } = await createdDriver();
    await expectSkiffError(new VirtualBoxDriver(spec).create(), 'vbox-exists');
    expect(Object.values((await fake.registry()).vms)).toHaveLength(1);
  });

  it('never adopts a VM of the same name that skiff did not make', async () => {
    await execa(path.join(FAKE_VBOX_DIR, 'VBoxManage'), ['createvm', '--name', 'skiff-m1', '--basefolder', path.join(fake.root, 'elsewhere'), '--register']);
    await fake.clearCalls();
    const spec = await fake.spec('m1');
    const driver = new VirtualBoxDriver(spec);
    await expectSkiffError(driver.create(), 'vbox-name-taken');
    await expectSkiffError(driver.state(), 'vbox-name-taken');
    await expectSkiffError(driver.remove(), 'vbox-name-taken');
    await expectSkiffError(driver.start(), 'vbox-name-taken');
    const calls = await fake.calls();
    expect(calls.filter((c) => !['--version', 'showvminfo'].includes(c[0]!))).toEqual([]);
    expect(Object.values((await fake.registry()).vms).map((v) => v.name)).toEqual(['skiff-m1']);
  });

  it('undoes everything when a step fails midway (disk made, not attached)', async () => {
    fake.set('FAKE_VBOX_FAIL', 'storageattach:generic');
    const spec = await fake.spec('m1');
    const e = await expectSkiffError(new VirtualBoxDriver(spec).create(), 'vbox-failed');
    expect(e.message).toContain('Injected failure');
    const tail = (await fake.calls()).slice(-2);
    expect(tail).toEqual([
      ['unregistervm', 'skiff-m1', '--delete'],
      ['closemedium', 'disk', path.join(spec.paths.driverDir, 'data.vdi'), '--delete'],
    ]);
    await expectNothingLeft(spec);
    expect(await exists(spec.isoPath)).toBe(true);
  });

  it('undoes everything when modifyvm is rejected', async () => {
    fake.set('FAKE_VBOX_FAIL', 'modifyvm:kernel-driver');
    const spec = await fake.spec('m1');
    await expectSkiffError(new VirtualBoxDriver(spec).create(), 'vbox-kernel-driver');
    await expectNothingLeft(spec);
  });

  it('reports leftover VirtualBox files and leaves no VM', async () => {
    const spec = await fake.spec('m1');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(path.join(spec.paths.driverDir, 'skiff-m1'), { recursive: true });
    await writeFile(path.join(spec.paths.driverDir, 'skiff-m1', 'skiff-m1.vbox'), '<VirtualBox/>');
    const e = await expectSkiffError(new VirtualBoxDriver(spec).create(), 'vbox-exists');
    expect(e.message).toContain('already exists');
    await expectNothingLeft(spec);
  });

  it('fails cleanly without a seed', async () => {
    const spec = await fake.spec('m1');
    const { rm } = await import('node:fs/promises');
    await rm(spec.paths.seed);
    await expectSkiffError(new VirtualBoxDriver(spec).create(), 'seed-missing');
    await expectNothingLeft(spec);
  });

  it('retries a briefly locked session and then succeeds', async () => {
    fake.set('FAKE_VBOX_FAIL', 'modifyvm:locked:2');
    const spec = await fake.spec('m1');
    await new VirtualBoxDriver(spec).create();
    expect((await fake.calls()).filter((c) => c[0] === 'modifyvm')).toHaveLength(3);
    expect(Object.values((await fake.registry()).vms)).toHaveLength(1);
  });

  it('gives up on a session that stays locked, leaving nothing', async () => {
    fake.set('FAKE_VBOX_FAIL', 'modifyvm:locked');
    const spec = await fake.spec('m1');
    await expectSkiffError(new VirtualBoxDriver(spec).create(), 'vbox-locked');
    await expectNothingLeft(spec);
  });
});

describe('VirtualBoxDriver start/state/stop', () => {
  it('starts headless, reports running and the endpoint, and is idempotent', async () => {
    const { spec, driver } = await createdDriver();
    const port = await statePort(spec);
    const ep = await driver.start();
    expect(ep).toEqual({ host: '127.0.0.1', port });
    expect(await fake.calls()).toEqual([
      ['showvminfo', 'skiff-m1', '--machinereadable'],
      ['startvm', 'skiff-m1', '--type', 'headless'],
    ]);
    expect(await driver.state()).toBe('running');
    expect(await readFile(spec.paths.consoleLog, 'utf8')).not.toBe('');
    await fake.clearCalls();
    expect(await driver.start()).toEqual(ep);
    expect(await driver.sshEndpoint()).toEqual(ep);
    expect(await fake.calls()).toEqual([
      ['showvminfo', 'skiff-m1', '--machinereadable'],
      ['showvminfo', 'skiff-m1', '--machinereadable'],
    ]);
  });

  it('moves the SSH forward when its port was taken while stopped', async () => {
    const { spec, driver } = await createdDriver();
    const old = await statePort(spec);
    const squatter = await listen(old);
    try {
      const notices: string[] = [];
      const ep = await driver.start({ notice: (m) => notices.push(m) });
      expect(ep.port).not.toBe(old);
      expect(await statePort(spec)).toBe(ep.port);
      expect(notices).toHaveLength(1);
      expect(await fake.calls()).toEqual([
        ['showvminfo', 'skiff-m1', '--machinereadable'],
        ['modifyvm', 'skiff-m1', '--natpf1', 'delete', 'ssh'],
        ['modifyvm', 'skiff-m1', '--natpf1', `ssh,tcp,127.0.0.1,${ep.port},,22`],
        ['startvm', 'skiff-m1', '--type', 'headless'],
      ]);
      expect(await driver.sshEndpoint()).toEqual(ep);
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  });

  it('retries once with a new port when VirtualBox cannot bind the forward', async () => {
    const { spec, driver } = await createdDriver();
    fake.set('FAKE_VBOX_FAIL', 'startvm:port-in-use:1');
    const ep = await driver.start();
    const calls = await fake.calls();
    expect(calls.map((c) => c.slice(0, 3))).toEqual([
      ['showvminfo', 'skiff-m1', '--machinereadable'],
      ['startvm', 'skiff-m1', '--type'],
      ['modifyvm', 'skiff-m1', '--natpf1'],
      ['modifyvm', 'skiff-m1', '--natpf1'],
      ['startvm', 'skiff-m1', '--type'],
    ]);
    expect(await statePort(spec)).toBe(ep.port);
    expect(await driver.state()).toBe('running');
  });

  it('says which hypervisor to stop when KVM or Hyper-V holds VT-x/AMD-V', async () => {
    const { driver } = await createdDriver();
    for (const [kind, words] of [['vmx-root', 'VERR_VMX_IN_VMX_ROOT_MODE'], ['svm-in-use', 'VERR_SVM_IN_USE']] as const) {
      fake.set('FAKE_VBOX_FAIL', `startvm:${kind}`);
      const e = await expectSkiffError(driver.start(), 'vbox-hv-in-use');
      expect(e.message).toContain(words);
      expect(e.hint).toMatch(/kvm_intel kvm_amd.*Hyper-V/);
    }
    expect(await driver.state()).toBe('stopped');
  });

  it('says clearly when VirtualBox cannot run the VM, and start fails', async () => {
    const { driver } = await createdDriver();
    fake.set('FAKE_VBOX_FAIL', 'startvm:kernel-driver');
    const e = await expectSkiffError(driver.start(), 'vbox-kernel-driver');
    expect(e.hint).toContain('vboxconfig');
    expect(await driver.state()).toBe('stopped');
  });

  it('stops with the ACPI power button and waits for power-off', async () => {
    const { driver } = await createdDriver();
    await driver.start();
    await fake.clearCalls();
    await driver.stop();
    const calls = await fake.calls();
    expect(calls.slice(0, 2)).toEqual([
      ['showvminfo', 'skiff-m1', '--machinereadable'],
      ['controlvm', 'skiff-m1', 'acpipowerbutton'],
    ]);
    expect(calls.slice(2).every((c) => c[0] === 'showvminfo')).toBe(true);
    expect(calls.length).toBeGreaterThan(2);
    expect(await driver.state()).toBe('stopped');
    await fake.clearCalls();
    await driver.stop();
    expect(await fake.calls()).toEqual([['showvminfo', 'skiff-m1', '--machinereadable']]);
  });

  it('forces power-off when the guest ignores ACPI', async () => {
    const { driver } = await createdDriver();
    await driver.start();
    fake.set('FAKE_VBOX_ACPI_IGNORE', '1');
    await fake.clearCalls();
    await driver.stop({ timeoutMs: 1200 });
    const calls = await fake.calls();
    expect(calls[1]).toEqual(['controlvm', 'skiff-m1', 'acpipowerbutton']);
    expect(calls.at(-1)).toEqual(['controlvm', 'skiff-m1', 'poweroff']);
    expect(await driver.state()).toBe('stopped');
  });

  it('force skips ACPI', async () => {
    const { driver } = await createdDriver();
    await driver.start();
    await fake.clearCalls();
    await driver.stop({ force: true });
    expect(await fake.calls()).toEqual([
      ['showvminfo', 'skiff-m1', '--machinereadable'],
      ['controlvm', 'skiff-m1', 'poweroff'],
    ]);
    expect(await driver.state()).toBe('stopped');
  });

  it('says a VM suspended for a full host disk is paused for that, and resumes it with controlvm resume', async () => {
    const { driver } = await createdDriver();
    await driver.start();
    const ctl = driver.pauseControl()!;
    expect(ctl).toMatchObject({ kind: 'virtualbox', vm: 'skiff-m1' });
    expect(await pauseCause(ctl)).toBeUndefined();
    fake.set('FAKE_VBOX_DISKFULL', '1');
    expect(await driver.state()).toBe('paused');
    fake.set('FAKE_VBOX_DISKFULL', undefined);
    expect((await pauseCause(ctl))?.reason).toBe('host-disk-full');
    await fake.clearCalls();
    await resumeVm(ctl);
    expect(await fake.calls()).toEqual([['controlvm', 'skiff-m1', 'resume']]);
    expect(await driver.state()).toBe('running');
    // The full disk is history in the log now: a later pause by hand is a plain pause.
    await execa(path.join(FAKE_VBOX_DIR, 'VBoxManage'), ['controlvm', 'skiff-m1', 'pause']);
    expect((await pauseCause(ctl))?.reason).toBe('paused');
  });

  it('says not-created for a machine VirtualBox does not know', async () => {
    const spec = await fake.spec('nope');
    const driver = new VirtualBoxDriver(spec);
    expect(await driver.state()).toBe('not-created');
    expect(await driver.sshEndpoint()).toBeUndefined();
    await driver.stop();
    await expectSkiffError(driver.start(), 'vbox-vm-not-found');
  });
});

describe('VirtualBoxDriver setImage/remove/info', () => {
  it('swaps the ISO of a stopped VM and refuses while running', async () => {
    const { driver } = await createdDriver();
    const iso2 = path.join(fake.root, 'new.iso');
    await writeFile(iso2, Buffer.alloc(4096));
    await driver.setImage(iso2);
    expect((await fake.calls()).at(-1)).toEqual(
      ['storageattach', 'skiff-m1', '--storagectl', 'SATA', '--port', '1', '--device', '0', '--type', 'dvddrive', '--medium', iso2]);
    const [vm] = Object.values((await fake.registry()).vms);
    expect(vm?.controllers[0]?.attachments['1-0']?.medium).toBe(iso2);
    await driver.start();
    await expectSkiffError(driver.setImage(iso2), 'vbox-running');
  });

  it('removes a running VM and all its files, keeps the ISO, and is idempotent', async () => {
    const { spec, driver } = await createdDriver();
    await driver.start();
    await fake.clearCalls();
    await driver.remove();
    expect(await fake.calls()).toEqual([
      ['showvminfo', 'skiff-m1', '--machinereadable'],
      ['showvminfo', 'skiff-m1', '--machinereadable'],
      ['controlvm', 'skiff-m1', 'poweroff'],
      ['unregistervm', 'skiff-m1', '--delete'],
    ]);
    await expectNothingLeft(spec);
    expect(await exists(spec.isoPath)).toBe(true);
    expect(await driver.state()).toBe('not-created');
    await fake.clearCalls();
    await driver.remove();
    expect(await fake.calls()).toEqual([['showvminfo', 'skiff-m1', '--machinereadable']]);
  });

  it('waits out the session lock VirtualBox holds just after a power-off', async () => {
    const { spec, driver } = await createdDriver();
    await driver.start();
    fake.set('FAKE_VBOX_UNLOCK_DELAY_MS', '700');
    await driver.remove();
    const unregisters = (await fake.calls()).filter((c) => c[0] === 'unregistervm');
    expect(unregisters.length).toBeGreaterThan(1);
    await expectNothingLeft(spec);
  });

  it('reports the version, and the accelerator VirtualBox\'s log names for the running VM', async () => {
    const { driver } = await createdDriver();
    expect(await driver.info()).toEqual({ version: '7.0.20r163906' });
    for (const [engine, accel] of [['vt-x', 'VT-x (nested paging)'], ['amd-v', 'AMD-V (nested paging)'], ['nem', 'Hyper-V (NEM, slow)']] as const) {
      fake.set('FAKE_VBOX_ENGINE', engine);
      await driver.start();
      expect((await driver.info()).accelerator).toBe(accel);
      await driver.stop({ force: true });
    }
    expect((await driver.info()).accelerator).toBeUndefined();
  });
});

describe('VirtualBoxDriver check', () => {
  it('names what to install when VBoxManage is missing', async () => {
    const spec = await fake.spec('m1');
    fake.set('PATH', path.join(fake.root, 'empty'));
    const e = await expectSkiffError(new VirtualBoxDriver(spec).check(), 'vbox-missing');
    expect(e.hint).toContain('virtualbox.org');
  });

  it('rejects VirtualBox older than 6.1', async () => {
    fake.set('FAKE_VBOX_VERSION', '6.0.24r139119');
    const spec = await fake.spec('m1');
    const e = await expectSkiffError(new VirtualBoxDriver(spec).check(), 'vbox-too-old');
    expect(e.message).toContain('6.0.24');
  });

  it('rejects a VBoxManage whose version it cannot read', async () => {
    fake.set('FAKE_VBOX_VERSION', 'garbage');
    const spec = await fake.spec('m1');
    await expectSkiffError(new VirtualBoxDriver(spec).check(), 'vbox-broken');
  });

  it('honours SKIFF_VBOXMANAGE', async () => {
    // PATH keeps node (the stand-in's interpreter) but not the stand-in itself.
    fake.set('PATH', path.dirname(process.execPath));
    process.env.SKIFF_VBOXMANAGE = path.join(FAKE_VBOX_DIR, 'VBoxManage');
    const spec = await fake.spec('m1');
    await new VirtualBoxDriver(spec).check();
    expect(await fake.calls()).toEqual([['--version']]);
  });
});

describe('VirtualBoxDriver keeps the forward on 127.0.0.1', () => {
  it('puts back a rule someone widened to all addresses', async () => {
    const { spec, driver } = await createdDriver();
    const port = await statePort(spec);
    const vb = path.join(FAKE_VBOX_DIR, 'VBoxManage');
    await execa(vb, ['modifyvm', 'skiff-m1', '--natpf1', 'delete', 'ssh']);
    await execa(vb, ['modifyvm', 'skiff-m1', '--natpf1', `ssh,tcp,,${port},,22`]);
    await fake.clearCalls();
    const ep = await driver.start();
    expect(ep).toEqual({ host: '127.0.0.1', port });
    expect(await fake.calls()).toEqual([
      ['showvminfo', 'skiff-m1', '--machinereadable'],
      ['modifyvm', 'skiff-m1', '--natpf1', 'delete', 'ssh'],
      ['modifyvm', 'skiff-m1', '--natpf1', `ssh,tcp,127.0.0.1,${port},,22`],
      ['startvm', 'skiff-m1', '--type', 'headless'],
    ]);
  });

  it('adopts the port of a rule edited in VirtualBox', async () => {
    const { spec, driver } = await createdDriver();
    const vb = path.join(FAKE_VBOX_DIR, 'VBoxManage');
    const srv = await listen(0);
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    await execa(vb, ['modifyvm', 'skiff-m1', '--natpf1', 'delete', 'ssh']);
    await execa(vb, ['modifyvm', 'skiff-m1', '--natpf1', `ssh,tcp,127.0.0.1,${port},,22`]);
    const ep = await driver.start();
    expect(ep.port).toBe(port);
    expect(await statePort(spec)).toBe(port);
  });
});
