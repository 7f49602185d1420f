import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natRules, parseMachineReadable } from '../../src/drivers/virtualbox/machinereadable.js';
import { FAKE_VBOX_DIR } from '../helpers/fake-vboxmanage/fake-vbox.js';

// The driver's tests are only as good as the stand-in's strictness: these check
// that it rejects what the real VBoxManage rejects, in the real tool's words.

let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-fakevbox-self-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function vbox(args: string[], env: Record<string, string> = {}, state = path.join(dir, `state-${n}.json`)) {
  return execa(path.join(FAKE_VBOX_DIR, 'VBoxManage'), args, { reject: false, env: { FAKE_VBOX_STATE: state, ...env } });
}

async function freshVm(name: string, env: Record<string, string> = {}): Promise<string> {
  n++;
  const r = await vbox(['createvm', '--name', name, '--ostype', 'Linux_64', '--basefolder', dir, '--register'], env);
  expect(r.exitCode).toBe(0);
  return path.join(dir, `state-${n}.json`);
}

describe('stand-in VBoxManage', () => {
  it('rejects an unknown option with a syntax error and exit code 2', async () => {
    const st = await freshVm('a1');
    const r = await vbox(['modifyvm', 'a1', '--cpuz', '2'], {}, st);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^VBoxManage: error: Unknown option: --cpuz\n/);
    expect(r.stderr).toContain('Usage:');
  });

  it('rejects a missing option value and an invalid enum value', async () => {
    const st = await freshVm('a2');
    expect((await vbox(['modifyvm', 'a2', '--cpus'], {}, st)).stderr).toContain('Missing the argument');
    const bad = await vbox(['modifyvm', 'a2', '--nictype1', 'e1000'], {}, st);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("Invalid --nictype argument 'e1000'");
    expect((await vbox(['modifyvm', 'a2', '--natpf1', 'ssh,tcp,127.0.0.1,22'], {}, st)).exitCode).toBe(2);
  });

  it('knows which options exist in which version', async () => {
    const st61 = await freshVm('a3', { FAKE_VBOX_VERSION: '6.1.50r161033' });
    const r = await vbox(['modifyvm', 'a3', '--audio-driver', 'none'], { FAKE_VBOX_VERSION: '6.1.50r161033' }, st61);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('Unknown option: --audio-driver');
    const st7 = await freshVm('a4');
    expect((await vbox(['modifyvm', 'a4', '--audio-driver', 'none', '--usb-ohci', 'off'], {}, st7)).exitCode).toBe(0);
  });

  it('answers an unknown VM the way VirtualBox does', async () => {
    n++;
    const r = await vbox(['showvminfo', 'ghost', '--machinereadable']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe("VBoxManage: error: Could not find a registered machine named 'ghost'");
    expect(r.stderr).toContain('VBOX_E_OBJECT_NOT_FOUND (0x80bb0001)');
  });

  it('prints showvminfo --machinereadable that the parser reads back', async () => {
    const st = await freshVm('a5');
    expect((await vbox(['modifyvm', 'a5', '--natpf1', 'ssh,tcp,127.0.0.1,40022,,22', '--cpus', '3'], {}, st)).exitCode).toBe(0);
    const r = await vbox(['showvminfo', 'a5', '--machinereadable'], {}, st);
    const info = parseMachineReadable(r.stdout);
    expect(info.get('name')).toBe('a5');
    expect(info.get('VMState')).toBe('poweroff');
    expect(info.get('cpus')).toBe('3');
    expect(info.get('CfgFile')).toBe(path.join(dir, 'a5', 'a5.vbox'));
    expect(natRules(info)).toEqual([{ name: 'ssh', protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 40022, guestIp: '', guestPort: 22 }]);
    expect(info.has('BIOS NVRAM File')).toBe(true);
  });

  it('refuses to start when the forwarded port is really taken, and starts when it is free', async () => {
    const st = await freshVm('a6');
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      expect((await vbox(['modifyvm', 'a6', '--natpf1', `ssh,tcp,127.0.0.1,${port},,22`], {}, st)).exitCode).toBe(0);
      const r = await vbox(['startvm', 'a6', '--type', 'headless'], {}, st);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(`failed to set up redirection of ${port} to :22. Probably a conflict with existing services or other rules (VERR_NAT_REDIR_SETUP)`);
      // VirtualBox 7's libslirp NAT only logs it and starts the VM anyway.
      const slirp = await vbox(['startvm', 'a6', '--type', 'headless'], { FAKE_VBOX_NAT: 'libslirp' }, st);
      expect(slirp.exitCode).toBe(0);
      expect((await vbox(['controlvm', 'a6', 'poweroff'], {}, st)).exitCode).toBe(0);
    } finally {
      await new Promise((r) => srv.close(r));
    }
    const ok = await vbox(['startvm', 'a6', '--type', 'headless'], {}, st);
    expect(ok.stdout).toContain('VM "a6" has been successfully started.');
    // A running VM's settings are locked.
    const locked = await vbox(['modifyvm', 'a6', '--cpus', '1'], {}, st);
    expect(locked.stderr).toContain('is already locked for a session');
  });

  it('powers off a while after the ACPI button, at once on poweroff', async () => {
    const st = await freshVm('a7');
    await vbox(['startvm', 'a7', '--type', 'headless'], {}, st);
    const env = { FAKE_VBOX_ACPI_DELAY_MS: '60000' };
    expect((await vbox(['controlvm', 'a7', 'acpipowerbutton'], env, st)).exitCode).toBe(0);
    expect(parseMachineReadable((await vbox(['showvminfo', 'a7', '--machinereadable'], env, st)).stdout).get('VMState')).toBe('running');
    await vbox(['controlvm', 'a7', 'poweroff'], env, st);
    expect(parseMachineReadable((await vbox(['showvminfo', 'a7', '--machinereadable'], env, st)).stdout).get('VMState')).toBe('poweroff');
    const again = await vbox(['controlvm', 'a7', 'poweroff'], env, st);
    expect(again.stderr).toContain("Machine 'a7' is not currently running");
  });

  it('checks media exist before attaching them', async () => {
    const st = await freshVm('a8');
    await vbox(['storagectl', 'a8', '--name', 'SATA', '--add', 'sata', '--controller', 'IntelAhci', '--portcount', '2'], {}, st);
    const missing = await vbox(['storageattach', 'a8', '--storagectl', 'SATA', '--port', '0', '--device', '0', '--type', 'hdd', '--medium', path.join(dir, 'none.vdi')], {}, st);
    expect(missing.stderr).toContain('VERR_FILE_NOT_FOUND');
    const iso = path.join(dir, 'x.iso');
    await writeFile(iso, 'x');
    const outOfRange = await vbox(['storageattach', 'a8', '--storagectl', 'SATA', '--port', '2', '--device', '0', '--type', 'dvddrive', '--medium', iso], {}, st);
    expect(outOfRange.stderr).toContain('out of range');
  });

  it('saves, refuses to change a saved VM, resumes from the state, and discards it only when there is one', async () => {
    const st = await freshVm('a9');
    expect((await vbox(['modifyvm', 'a9', '--natpf1', 'ssh,tcp,127.0.0.1,0,,22'], {}, st)).exitCode).toBe(0);
    const notRunning = await vbox(['controlvm', 'a9', 'savestate'], {}, st);
    expect(notRunning.stderr).toContain("Machine 'a9' is not currently running");
    const notSaved = await vbox(['discardstate', 'a9'], {}, st);
    expect(notSaved.exitCode).toBe(1);
    expect(notSaved.stderr).toContain('not in the saved state (machine state: PoweredOff)');
    expect(notSaved.stderr).toContain('VBOX_E_INVALID_VM_STATE (0x80bb0002)');
    expect(parseMachineReadable((await vbox(['showvminfo', 'a9', '--machinereadable'], {}, st)).stdout).has('VMStateFile')).toBe(false);

    await vbox(['startvm', 'a9', '--type', 'headless'], {}, st);
    const save = await vbox(['controlvm', 'a9', 'savestate'], {}, st);
    expect(save.exitCode).toBe(0);
    expect(save.stdout).toBe('0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%');
    const info = parseMachineReadable((await vbox(['showvminfo', 'a9', '--machinereadable'], {}, st)).stdout);
    expect(info.get('VMState')).toBe('saved');
    expect(info.get('VMStateFile')).toMatch(new RegExp(`^${path.join(dir, 'a9', 'Snapshots')}/\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d-\\d{9}Z\\.sav$`));
    expect(info.get('VMStateChangeTime')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}$/);

    // VirtualBox's manual: modifyvm needs a powered-off VM, neither running nor saved.
    for (const args of [['modifyvm', 'a9', '--natpf1', 'delete', 'ssh'], ['modifyvm', 'a9', '--memory', '1024'], ['sharedfolder', 'add', 'a9', '--name', 'x', '--hostpath', '/tmp']]) {
      const r = await vbox(args, {}, st);
      expect(r.exitCode).toBe(1);
      expect(r.stderr.split('\n')[0]).toBe('VBoxManage: error: The machine is not mutable (state is Saved)');
      expect(r.stderr).toContain('VBOX_E_INVALID_VM_STATE (0x80bb0002)');
    }
    const restored = await vbox(['startvm', 'a9', '--type', 'headless'], {}, st);
    expect(restored.stdout).toContain('VM "a9" has been successfully started.');
    const after = parseMachineReadable((await vbox(['showvminfo', 'a9', '--machinereadable'], {}, st)).stdout);
    expect(after.get('VMState')).toBe('running');
    expect(after.has('VMStateFile')).toBe(false);

    await vbox(['controlvm', 'a9', 'savestate'], {}, st);
    expect((await vbox(['discardstate', 'a9'], {}, st)).exitCode).toBe(0);
    expect(parseMachineReadable((await vbox(['showvminfo', 'a9', '--machinereadable'], {}, st)).stdout).get('VMState')).toBe('poweroff');
  });
});
