import { execa } from 'execa';
import { access, readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Driver, MachineSpec, SshEndpoint } from '../../src/drivers/driver.js';
import { VirtualBoxDriver } from '../../src/drivers/virtualbox/driver.js';
import { currentRecord, recordFile, writeRecord } from '../../src/drivers/virtualbox/saved-state.js';
import { SkiffError } from '../../src/errors.js';
import type { MachineConfig } from '../../src/machine/config.js';
import { Machine } from '../../src/machine/machine.js';
import { stopMachine } from '../../src/machine/stop.js';
import { upgradeMachine } from '../../src/machine/upgrade.js';
import { FAKE_VBOX_DIR, setupFakeVBox, type FakeVBox } from '../helpers/fake-vboxmanage/fake-vbox.js';

// skiff suspend on VirtualBox (`controlvm savestate`), against the stand-in
// VBoxManage: VirtualBox itself cannot be installed where these tests run.

let fake: FakeVBox;
beforeEach(async () => {
  fake = await setupFakeVBox();
});
afterEach(async () => {
  await fake.cleanup();
});

const VB = () => path.join(FAKE_VBOX_DIR, 'VBoxManage');
const exists = (p: string) => access(p).then(() => true, () => false);

async function fakeVm() {
  const [vm] = Object.values((await fake.registry()).vms) as Array<{ state: string; stateFile?: string; restores?: number; coldBoots?: number }>;
  return vm!;
}

async function runningDriver(name = 'm1', spec?: MachineSpec) {
  const s = spec ?? (await fake.spec(name));
  const driver = new VirtualBoxDriver(s);
  await driver.create();
  await driver.start();
  await fake.clearCalls();
  return { spec: s, driver };
}

async function suspended(name = 'm1') {
  const r = await runningDriver(name);
  await r.driver.suspend();
  await fake.clearCalls();
  return r;
}

/** Resumes through `driver`, collecting each discarded state's reason as `start` words it. */
function notices(): { list: string[]; resume: (d: Driver) => Promise<SshEndpoint | undefined> } {
  const list: string[] = [];
  return {
    list,
    resume: async (d) => {
      const r = await d.resume();
      if (r.resumed) return r.ssh;
      list.push(`the saved state of machine m1 ${r.why}: starting it cold instead (the data disk is intact; containers start as after a reboot)`);
      return undefined;
    },
  };
}

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port }, () => resolve(srv));
  });
}

describe('VirtualBox suspend', () => {
  it('saves with controlvm savestate after recording what the state belongs to, and says suspended with the .sav size', async () => {
    const { spec, driver } = await runningDriver();
    const before = Date.now();
    const saved = await driver.suspend();
    const calls = await fake.calls();
    expect(calls[0]).toEqual(['showvminfo', 'skiff-m1', '--machinereadable']);
    expect(calls[1]).toEqual(['controlvm', 'skiff-m1', 'savestate']);
    expect(calls.slice(2).every((c) => c[0] === 'showvminfo')).toBe(true);

    const vm = await fakeVm();
    expect(vm.state).toBe('saved');
    // VirtualBox keeps the state in the VM's own folder, inside the machine's driver dir.
    expect(vm.stateFile!.startsWith(path.join(spec.paths.driverDir, 'skiff-m1', 'Snapshots') + path.sep)).toBe(true);
    expect(saved.sizeBytes).toBe((await stat(vm.stateFile!)).size);
    expect(saved.sizeBytes).toBe(65536);
    expect(Date.parse(saved.savedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(await driver.state()).toBe('suspended');
    expect(await driver.savedState()).toEqual(saved);
    expect(await driver.sshEndpoint()).toBeUndefined();
    expect(await driver.watch()).toBeUndefined();

    const rec = JSON.parse(await readFile(recordFile(spec.paths.driverDir), 'utf8'));
    expect(rec).toMatchObject({ version: 1, vbox: '7.0.20r163906', cpus: 2, memoryMiB: 2048, binfmt: false, privateNic: null, shares: [] });
    expect(rec.iso.path).toBe(spec.isoPath);
    expect((await stat(recordFile(spec.paths.driverDir))).mode & 0o777).toBe(0o600);
  });

  it('refuses a VM that is not running, and keeps a failed save from counting', async () => {
    const spec = await fake.spec('m1');
    const driver = new VirtualBoxDriver(spec);
    await driver.create();
    const e = await driver.suspend().then(() => undefined, (err: unknown) => err);
    expect((e as SkiffError).code).toBe('not-running');

    await driver.start();
    fake.set('FAKE_VBOX_FAIL', 'savestate:generic');
    const f = await driver.suspend().then(() => undefined, (err: unknown) => err);
    expect(f).toBeInstanceOf(SkiffError);
    expect((f as SkiffError).message).toContain('Injected failure');
    expect(await driver.state()).toBe('running');
    expect(await driver.savedState()).toBeUndefined();
    expect(await exists(recordFile(spec.paths.driverDir))).toBe(false);
  });

  it('resumes with startvm when the state still fits: running on the same port, the state spent', async () => {
    const { spec, driver } = await suspended();
    const port = (JSON.parse(await readFile(path.join(spec.paths.driverDir, 'state.json'), 'utf8')) as { sshPort: number }).sshPort;
    const file = (await fakeVm()).stateFile!;
    const n = notices();
    const ep = await n.resume(driver);
    expect(ep).toEqual({ host: '127.0.0.1', port });
    expect(n.list).toEqual([]);
    expect(await fake.calls()).toEqual([
      ['showvminfo', 'skiff-m1', '--machinereadable'],
      ['startvm', 'skiff-m1', '--type', 'headless'],
    ]);
    const vm = await fakeVm();
    expect(vm.restores).toBe(1);
    expect(vm.coldBoots).toBe(1);
    expect(await driver.state()).toBe('running');
    expect(await exists(file)).toBe(false);
    expect(await exists(recordFile(spec.paths.driverDir))).toBe(false);
    // Nothing to resume any more.
    expect(await n.resume(driver)).toBeUndefined();
  });

  it('discards a state saved with other settings (memory edited) and says why; the next start boots cold', async () => {
    const { spec } = await suspended();
    const driver = new VirtualBoxDriver({ ...spec, memoryMiB: 4096 });
    const n = notices();
    expect(await n.resume(driver)).toBeUndefined();
    expect(n.list).toEqual([
      'the saved state of machine m1 was saved with other VM settings (memory MiB 2048 then, 4096 now): starting it cold instead (the data disk is intact; containers start as after a reboot)',
    ]);
    const calls = await fake.calls();
    expect(calls.filter((c) => !['showvminfo', '--version'].includes(c[0]!))).toEqual([['discardstate', 'skiff-m1']]);
    expect(await driver.state()).toBe('stopped');
    expect(await exists(recordFile(spec.paths.driverDir))).toBe(false);
    await driver.start();
    expect(await fakeVm()).toMatchObject({ state: 'running', coldBoots: 2 });
    expect((await fakeVm()).restores).toBeUndefined();
  });

  it('discards a state saved by another VirtualBox version', async () => {
    await suspended();
    fake.set('FAKE_VBOX_VERSION', '7.1.4r165100');
    const driver = new VirtualBoxDriver(await fake.spec('m1'));
    const n = notices();
    expect(await n.resume(driver)).toBeUndefined();
    expect(n.list[0]).toContain('was saved by VirtualBox 7.0.20r163906, and this is VirtualBox 7.1.4r165100');
    expect(await driver.state()).toBe('stopped');
  });

  it('boots cold when the saved SSH port is taken now: a saved VM cannot move its forward', async () => {
    const { spec, driver } = await suspended();
    const port = (JSON.parse(await readFile(path.join(spec.paths.driverDir, 'state.json'), 'utf8')) as { sshPort: number }).sshPort;
    const squatter = await listen(port);
    try {
      const n = notices();
      expect(await n.resume(driver)).toBeUndefined();
      expect(n.list[0]).toContain(`its SSH port ${port} on 127.0.0.1 is taken by another program now`);
      expect((await fake.calls()).map((c) => c[0])).not.toContain('startvm');
      expect(await driver.state()).toBe('stopped');
      const ep = await driver.start();
      expect(ep.port).not.toBe(port);
      expect(await driver.state()).toBe('running');
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  });

  it('a damaged state file: startvm refuses it, the state is discarded, nothing runs half-restored', async () => {
    const { driver } = await suspended();
    const file = (await fakeVm()).stateFile!;
    await writeFile(file, 'not a saved state');
    const n = notices();
    expect(await n.resume(driver)).toBeUndefined();
    expect(n.list[0]).toMatch(/could not be resumed \(VirtualBox: VM cannot start because the saved state file '.*\.sav' is invalid \(VERR_SSM_INTEGRITY_MAGIC\)/);
    expect((await fake.calls()).filter((c) => c[0] !== 'showvminfo')).toEqual([
      ['startvm', 'skiff-m1', '--type', 'headless'],
      ['discardstate', 'skiff-m1'],
    ]);
    expect(await driver.state()).toBe('stopped');
  });

  it('a missing state file is discarded before VirtualBox is asked to load it', async () => {
    const { driver } = await suspended();
    const { rm } = await import('node:fs/promises');
    await rm((await fakeVm()).stateFile!);
    const n = notices();
    expect(await n.resume(driver)).toBeUndefined();
    expect(n.list[0]).toContain('is missing its file');
    expect(await driver.state()).toBe('stopped');
  });

  it('keeps the state when VirtualBox cannot run any VM now (a cold boot would fail the same way)', async () => {
    const { spec, driver } = await suspended();
    fake.set('FAKE_VBOX_FAIL', 'startvm:kernel-driver');
    const e = await driver.resume().then(() => undefined, (err: unknown) => err);
    expect((e as SkiffError).code).toBe('vbox-kernel-driver');
    expect(await driver.state()).toBe('suspended');
    expect(await exists(recordFile(spec.paths.driverDir))).toBe(true);
    fake.set('FAKE_VBOX_FAIL', undefined);
    expect((await driver.resume()).resumed).toBe(true);
    expect((await fakeVm()).restores).toBe(1);
  });
});

describe('VirtualBox suspend: torn and foreign states', () => {
  it('a VM saved outside skiff (no record) is discarded with a notice', async () => {
    const { spec, driver } = await runningDriver();
    await execa(VB(), ['controlvm', 'skiff-m1', 'savestate']);
    expect(await driver.state()).toBe('suspended');
    expect((await driver.savedState())?.sizeBytes).toBe(65536);
    const n = notices();
    expect(await n.resume(driver)).toBeUndefined();
    expect(n.list[0]).toContain('has no record of what it belongs to');
    expect(await driver.state()).toBe('stopped');
    expect(await exists(recordFile(spec.paths.driverDir))).toBe(false);
  });

  it('a record without a saved VM (suspend killed before VirtualBox saved) is dropped, with a notice when stopped', async () => {
    const spec = await fake.spec('m1');
    const driver = new VirtualBoxDriver(spec);
    await driver.create();
    const [vm] = Object.values((await fake.registry()).vms);
    await writeRecord(spec.paths.driverDir, await currentRecord(spec, vm!.uuid, '7.0.20r163906'));
    expect(await driver.state()).toBe('stopped');
    expect(await driver.savedState()).toBeUndefined();
    const n = notices();
    expect(await n.resume(driver)).toBeUndefined();
    expect(n.list[0]).toContain('is incomplete (the suspend was interrupted');
    expect(await exists(recordFile(spec.paths.driverDir))).toBe(false);
    expect((await fake.calls()).some((c) => c[0] === 'discardstate')).toBe(false);
  });

  it('a record beside a running VM (killed after the save began, VM ran on) is dropped by start and discardSavedState', async () => {
    const { spec, driver } = await runningDriver();
    const [vm] = Object.values((await fake.registry()).vms);
    await writeRecord(spec.paths.driverDir, await currentRecord(spec, vm!.uuid, '7.0.20r163906'));
    await driver.start();
    expect(await exists(recordFile(spec.paths.driverDir))).toBe(false);
    await writeRecord(spec.paths.driverDir, await currentRecord(spec, vm!.uuid, '7.0.20r163906'));
    await driver.discardSavedState();
    expect(await exists(recordFile(spec.paths.driverDir))).toBe(false);
    expect((await fake.calls()).some((c) => c[0] === 'discardstate')).toBe(false);
    expect(await driver.state()).toBe('running');
  });
});

describe('VirtualBox suspend: what other commands do to a saved VM', () => {
  it('start (the cold path) discards the saved state before it boots', async () => {
    const { spec, driver } = await suspended();
    await driver.start();
    expect((await fake.calls()).filter((c) => c[0] !== 'showvminfo')).toEqual([
      ['discardstate', 'skiff-m1'],
      ['startvm', 'skiff-m1', '--type', 'headless'],
    ]);
    expect(await fakeVm()).toMatchObject({ state: 'running', coldBoots: 2 });
    expect(await exists(recordFile(spec.paths.driverDir))).toBe(false);
  });

  it('driver stop keeps the state, stop --force discards it; discardSavedState is a no-op without one', async () => {
    const { driver } = await suspended();
    await driver.stop();
    expect(await driver.state()).toBe('suspended');
    await driver.stop({ force: true });
    expect(await driver.state()).toBe('stopped');
    await fake.clearCalls();
    await driver.discardSavedState();
    expect((await fake.calls()).filter((c) => c[0] !== 'showvminfo')).toEqual([]);
  });

  it('remove discards the state and leaves nothing', async () => {
    const { spec, driver } = await suspended();
    await driver.remove();
    expect((await fake.calls()).filter((c) => c[0] !== 'showvminfo')).toEqual([
      ['discardstate', 'skiff-m1'],
      ['unregistervm', 'skiff-m1', '--delete'],
    ]);
    expect(Object.values((await fake.registry()).vms)).toEqual([]);
    expect(await exists(spec.paths.driverDir)).toBe(false);
  });

  it('through the machine layer: stop keeps it, stop --force discards it; upgrade lets the next start boot cold on the new image', async () => {
    const spec = await fake.spec('m1');
    const config: MachineConfig = {
      version: 1,
      name: 'm1',
      driver: 'virtualbox',
      arch: 'x86_64',
      cpus: 2,
      memoryMiB: 2048,
      diskGiB: 20,
      image: { source: 'test', sha256: 'a'.repeat(64), path: fake.isoPath },
      shares: [],
      binfmt: false,
      watch: false,
      createdAt: new Date().toISOString(),
    };
    const { saveMachineConfig } = await import('../../src/machine/config.js');
    await saveMachineConfig(spec.paths.config, config);
    const m = await Machine.fromConfig(fake.home, spec.paths, config);
    await m.driver.create();
    await m.driver.start();
    await m.driver.suspend();

    expect(await stopMachine(m)).toEqual({ wasRunning: false, suspended: 'kept' });
    expect(await m.driver.state()).toBe('suspended');

    // upgrade: VirtualBox refuses to change a saved VM, so nothing is asked of it now.
    const iso2 = path.join(fake.root, 'new.iso');
    await writeFile(iso2, Buffer.alloc(4096));
    await fake.clearCalls();
    const { machine: m2 } = await upgradeMachine(m, { source: 'test2', sha256: 'b'.repeat(64), path: iso2 } as never);
    expect((await fake.calls()).filter((c) => c[0] !== 'showvminfo')).toEqual([]);
    expect(await m2.driver.state()).toBe('suspended');
    const n = notices();
    expect(await n.resume(m2.driver)).toBeUndefined();
    expect(n.list[0]).toContain('no longer matches the guest image');
    await fake.clearCalls();
    await m2.driver.start();
    expect((await fake.calls()).filter((c) => c[0] !== 'showvminfo')).toEqual([
      ['storageattach', 'skiff-m1', '--storagectl', 'SATA', '--port', '1', '--device', '0', '--type', 'dvddrive', '--medium', iso2],
      ['startvm', 'skiff-m1', '--type', 'headless'],
    ]);

    await m2.driver.suspend();
    expect(await stopMachine(m2, { force: true })).toEqual({ wasRunning: false, suspended: 'discarded' });
    expect(await m2.driver.state()).toBe('stopped');
  });
});
