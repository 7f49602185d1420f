import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skiff } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { BUILT_ISO, removeSuiteMachine, requireArtifacts } from '../helpers/e2e.js';
import { FAKE_VBOX_DIR } from '../helpers/fake-vboxmanage/fake-vbox.js';

/**
 * issue 24: the guest side of the VirtualBox path, booted. `skiff --driver
 * virtualbox` runs against the stand-in VBoxManage, whose startvm boots the VM in
 * QEMU with the hardware VirtualBox would present for the settings skiff gave it
 * (test/helpers/fake-vboxmanage/qemu-vm.mjs): BIOS, the ISO on an AHCI CD-ROM
 * (isolinux, no -kernel), the data disk (the VDI skiff made from its seed) on
 * AHCI, the NIC type skiff chose behind a user-mode NAT with skiff's SSH rule,
 * COM1 into skiff's console file, ACPI power button for stop. One boot.
 * What it proves and what it does not: README, "The VirtualBox driver is tested
 * against a stand-in".
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-e2e-vbox-'));
const env: NodeJS.ProcessEnv = {
  SKIFF_HOME: path.join(root, 'home'),
  SKIFF_RUNTIME_DIR: path.join('/tmp', `sk-vbox-${process.pid}`),
  DOCKER_CONFIG: path.join(root, 'docker-config'),
  PATH: `${FAKE_VBOX_DIR}${path.delimiter}${process.env.PATH ?? ''}`,
  FAKE_VBOX_STATE: path.join(root, 'vbox-state.json'),
  FAKE_VBOX_LOG: path.join(root, 'vbox-calls.log'),
  FAKE_VBOX_QEMU: 'qemu-system-x86_64',
  SKIFF_VBOXMANAGE: '',
};

async function run(args: string[], timeoutMs?: number) {
  const r = await skiff(args, env, timeoutMs);
  if (r.code !== 0) throw new Error(`skiff ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

const qemuArgv = () => readFileSync(path.join(root, 'vbox-calls.qemu.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]);

beforeAll(() => requireArtifacts({ iso: true }));

afterAll(async () => {
  await removeSuiteMachine(env, [root, env.SKIFF_RUNTIME_DIR!]);
}, 240_000);

describe('the VirtualBox path, booted in QEMU with VirtualBox\'s hardware', () => {
  it('init --driver virtualbox makes the VM and its VDI from the seed', async () => {
    const r = await run(['init', '--driver', 'virtualbox', '--iso', BUILT_ISO, '--no-shares', '--disk', '4G', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ driver: 'virtualbox', arch: 'x86_64', binfmt: false });
    // Turned on after init, as a user edits config.yaml: the seed on the disk still says off.
    const cfg = path.join(env.SKIFF_HOME!, 'machines', 'default', 'config.yaml');
    const text = readFileSync(cfg, 'utf8');
    expect(text).toMatch(/^binfmt: false$/m);
    writeFileSync(cfg, text.replace(/^binfmt: false$/m, 'binfmt: true'));
  });

  it('start boots the ISO from the SATA CD by BIOS and returns with a working engine', async () => {
    const r = await skiff(['start'], env, 420_000);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const [argv] = qemuArgv();
    expect(argv).not.toContain('-kernel');
    const joined = argv!.join(' ');
    expect(joined).toMatch(/-device ich9-ahci,id=sata0 .*-device ide-hd,bus=sata0\.0,drive=\S+,bootindex=1 .*-device ide-cd,bus=sata0\.1,drive=\S+,bootindex=0/);
    expect(joined).toMatch(/format=vdi/);
    expect(joined).toMatch(/-netdev user,id=nat1,hostfwd=tcp:127\.0\.0\.1:\d+-:22 -device virtio-net-pci,/);
    const host = /export DOCKER_HOST='([^']+)'/.exec((await run(['shellinit', '--shell', 'bash'])).stdout)![1]!;
    const v = await docker(host, ['version', '--format', '{{.Server.Os}}']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.trim()).toBe('linux');
  }, 440_000);

  it('the guest found the data disk on SATA, the NIC skiff chose, and the ISO on the AHCI CD', async () => {
    const r = await run(['ssh', '--', "grep ' /mnt/data ' /proc/mounts; readlink /sys/class/net/eth0/device/driver; ls /sys/bus/pci/drivers/ahci; grep -c iso9660 /proc/mounts"]);
    expect(r.stdout).toMatch(/^\/dev\/sda\S* \/mnt\/data ext4 /m);
    expect(r.stdout).toMatch(/virtio/);
    expect(r.stdout).toMatch(/0000:/);
  }, 60_000);

  it('applies binfmt from config.yaml at this start, though the seed said off', async () => {
    const r = await run(['ssh', '--', 'ls /proc/sys/fs/binfmt_misc/; cat /mnt/data/skiff/settings.env']);
    expect(r.stdout).toMatch(/^qemu-aarch64$/m);
    expect(r.stdout).toMatch(/^SKIFF_BINFMT='1'$/m);
  }, 60_000);

  it('status reports the accelerator VirtualBox\'s log names', async () => {
    const st = JSON.parse((await run(['status', '--json'])).stdout) as { accelerator?: string; driver: string };
    expect(st).toMatchObject({ driver: 'virtualbox', accelerator: 'VT-x (nested paging)' });
  }, 60_000);

  it('stop presses the ACPI power button and the guest powers off', async () => {
    await run(['stop'], 180_000);
    const st = JSON.parse((await run(['status', '--json'])).stdout) as { state: string };
    expect(st.state).toBe('stopped');
    const calls = readFileSync(env.FAKE_VBOX_LOG!, 'utf8');
    expect(calls).toContain('"acpipowerbutton"');
    expect(calls).not.toContain('"poweroff"');
  }, 200_000);
});
