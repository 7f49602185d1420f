import { mkdir, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExitCode, SkiffError } from '../../errors.js';
import type { Driver, DriverInfo, MachineSpec, PauseControl, ResumeResult, SavedState, SshEndpoint, StartHooks, UdpForwarding, VmState, VmWatch } from '../driver.js';
import { acceleratorFromLog } from './accelerator.js';
import { dataDiskPath, makeDataDisk } from './data-disk.js';
import { classify, toSkiffError, VBoxManageFailure } from './errors.js';
import { locateVBoxManage } from './locate.js';
import { natRules, parseMachineReadable, type MachineReadable } from './machinereadable.js';
import { freePort } from '../../util/free-port.js';
import { isPortFree } from './ports.js';
import { readState, writeState, type VBoxState } from './state-file.js';
import { atLeast, parseVersion, requireSupported, type VBoxVersion } from './version.js';
import { VBoxManage } from './vboxmanage.js';
import { foldVmState } from './vm-state.js';
import { exists } from '../../util/exists.js';

const CONTROLLER = 'SATA';
const DISK_PORT = '0';
const DVD_PORT = '1';
const SSH_RULE = 'ssh';
const LOCK_RETRY_MS = 5_000;
const POLL_MS = 500;

export function vmNameFor(machine: string): string {
  return `skiff-${machine}`;
}

/** What VirtualBox says about our VM name right now. */
type Lookup = { kind: 'absent' } | { kind: 'ours'; info: MachineReadable; state: VBoxState } | { kind: 'foreign'; info: MachineReadable };

/**
 * The Driver over VBoxManage. The VM is `skiff-NAME`, its files live in
 * spec.paths.driverDir; a VM of that name that skiff did not create (UUID not
 * the one in driverDir/state.json) is reported, never adopted or deleted.
 */
export class VirtualBoxDriver implements Driver {
  readonly name = 'virtualbox' as const;
  /** isolinux's command line is fixed on the CD: binfmt is applied over SSH (machine/boot-settings.ts). */
  readonly passesBootSettings = false;
  readonly vmName: string;
  private vbox: VBoxManage | undefined;
  private version: VBoxVersion | undefined;

  constructor(private readonly spec: MachineSpec) {
    this.vmName = vmNameFor(spec.name);
  }

  /** Known once the driver has found VBoxManage (every start does). */
  udpForwarding(): UdpForwarding | undefined {
    return this.vbox ? { kind: 'virtualbox', vboxmanage: this.vbox.bin, vm: this.vmName } : undefined;
  }

  /** Known once the driver has found VBoxManage (every start and state() does). */
  pauseControl(): PauseControl | undefined {
    return this.vbox ? { kind: 'virtualbox', vboxManage: this.vbox.bin, vm: this.vmName, dataDisk: dataDiskPath(this.spec.paths.driverDir) } : undefined;
  }

  async check(): Promise<void> {
    this.refuseArch();
    await this.ready();
  }

  /**
   * The arm64 image boots only by QEMU's direct kernel boot (it has no boot
   * loader VirtualBox could start), so an aarch64 VM would hang until the start
   * timeout: refused before anything is made.
   */
  private refuseArch(): void {
    if (this.spec.arch === 'x86_64') return;
    throw new SkiffError('vbox-arch', `the VirtualBox driver runs x86_64 guests only, not ${this.spec.arch}`, {
      hint: 'use --driver qemu for an aarch64 guest, or --arch x86_64',
      exitCode: ExitCode.usage,
    });
  }

  async create(): Promise<void> {
    this.refuseArch();
    const vbox = await this.ready();
    const driverDir = this.spec.paths.driverDir;
    const found = await this.lookup();
    if (found.kind !== 'absent') throw this.nameTaken(found.kind === 'ours');
    if (await exists(dataDiskPath(driverDir))) {
      throw new SkiffError('vbox-disk-exists', `a data disk already exists at ${dataDiskPath(driverDir)}`, {
        hint: 'run `skiff delete` first; skiff never overwrites a data disk',
        exitCode: ExitCode.conflict,
      });
    }
    await mkdir(driverDir, { recursive: true, mode: 0o700 });
    let registered = false;
    try {
      const out = await vbox.run(['createvm', '--name', this.vmName, '--ostype', 'Linux_64', '--basefolder', driverDir, '--register']);
      registered = true;
      const uuid = /^UUID:\s*(\S+)/m.exec(out)?.[1];
      if (!uuid) throw new SkiffError('vbox-failed', `VBoxManage createvm printed no UUID for ${this.vmName}`, { exitCode: ExitCode.failure });
      const sshPort = await freePort();
      await writeState(driverDir, { vmName: this.vmName, uuid, sshPort });
      await vbox.run(['modifyvm', this.vmName, ...this.hardwareArgs(sshPort)], { retryLockedMs: LOCK_RETRY_MS });
      await vbox.run(['storagectl', this.vmName, '--name', CONTROLLER, '--add', 'sata', '--controller', 'IntelAhci', '--portcount', '2', '--bootable', 'on'], { retryLockedMs: LOCK_RETRY_MS });
      const disk = await makeDataDisk(vbox, { seed: this.spec.paths.seed, driverDir, diskGiB: this.spec.diskGiB });
      await this.attach(disk, 'hdd', DISK_PORT);
      await this.attach(this.spec.isoPath, 'dvddrive', DVD_PORT);
      for (const share of this.spec.shares) {
        // No --automount: the guest mounts shares itself, where skiff tells it to.
        const args = ['sharedfolder', 'add', this.vmName, '--name', share.tag, '--hostpath', share.hostPath];
        if (share.readOnly) args.push('--readonly');
        await vbox.run(args, { retryLockedMs: LOCK_RETRY_MS });
      }
    } catch (e) {
      await this.undoCreate(registered);
      throw this.wrap(e);
    }
  }

  async start(hooks?: StartHooks): Promise<SshEndpoint> {
    const vbox = await this.ready();
    const found = await this.mustBeOurs();
    const st = foldVmState(found.info.get('VMState'));
    if (st === 'running' || st === 'starting') return this.endpointFrom(found.info, found.state);
    if (st === 'paused') {
      await this.control(['resume']);
      return this.endpointFrom(found.info, found.state);
    }
    if (st !== 'stopped') {
      throw new SkiffError('vbox-busy', `the VirtualBox VM ${this.vmName} is ${found.info.get('VMState') ?? 'in an unknown state'}`, {
        hint: 'wait for it to settle (`skiff status`), or `skiff stop --force`',
        exitCode: ExitCode.conflict,
      });
    }
    let state = await this.syncRule(found.info, found.state);
    for (let attempt = 0; ; attempt++) {
      state = await this.ensureFreePort(state, hooks);
      try {
        await vbox.run(['startvm', this.vmName, '--type', 'headless'], { retryLockedMs: LOCK_RETRY_MS });
        return { host: '127.0.0.1', port: state.sshPort };
      } catch (e) {
        // Someone bound the port between our check and VirtualBox's bind: pick another, once.
        if (attempt === 0 && e instanceof VBoxManageFailure && classify(e.stderr) === 'port-in-use') {
          state = await this.movePort(state, await freePort());
          continue;
        }
        throw this.wrap(e);
      }
    }
  }

  async stop(opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    await this.ready();
    const found = await this.lookup();
    if (found.kind === 'absent') return;
    if (found.kind === 'foreign') throw this.nameTaken(false);
    const st = foldVmState(found.info.get('VMState'));
    if (st === 'stopped') return;
    // ACPI needs a running guest to hear it; a paused or wedged one is powered off.
    if (!opts.force && st === 'running') {
      await this.control(['acpipowerbutton']);
      const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
      while (Date.now() < deadline) {
        await sleep(Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
        if ((await this.state()) === 'stopped') return;
      }
    }
    try {
      await this.control(['poweroff']);
    } catch (e) {
      // It powered off on its own between the last poll and now: that is what we wanted.
      if (e instanceof SkiffError && e.code === 'vbox-not-running') return;
      throw e;
    }
  }

  async suspend(): Promise<SavedState> {
    throw new SkiffError('unsupported', `suspend is not supported by the VirtualBox driver yet`, { hint: 'use `skiff stop`', exitCode: ExitCode.usage });
  }

  async savedState(): Promise<SavedState | undefined> {
    return undefined;
  }

  async resume(): Promise<ResumeResult> {
    return { resumed: false, why: 'is not supported by the VirtualBox driver yet' };
  }

  async discardSavedState(): Promise<void> {}

  async state(): Promise<VmState> {
    await this.ready();
    const found = await this.lookup();
    if (found.kind === 'absent') return 'not-created';
    if (found.kind === 'foreign') throw this.nameTaken(false);
    return foldVmState(found.info.get('VMState'));
  }

  async sshEndpoint(): Promise<SshEndpoint | undefined> {
    await this.ready();
    const found = await this.lookup();
    if (found.kind !== 'ours') return undefined;
    const st = foldVmState(found.info.get('VMState'));
    if (st !== 'running' && st !== 'starting') return undefined;
    return this.endpointFrom(found.info, found.state);
  }

  /** The accelerator is what VirtualBox's log of this run says; nothing when the VM is not running. */
  async info(): Promise<DriverInfo> {
    const vbox = await this.ready();
    const version = this.version?.text;
    const found = await this.lookup();
    if (found.kind !== 'ours' || foldVmState(found.info.get('VMState')) !== 'running') return { version };
    const log = await vbox.run(['showvminfo', this.vmName, '--log', '0'], { timeoutMs: 30_000 }).catch(() => '');
    return { accelerator: acceleratorFromLog(log), version };
  }

  async watch(): Promise<VmWatch | undefined> {
    const vbox = await this.ready();
    const found = await this.lookup();
    if (found.kind !== 'ours' || foldVmState(found.info.get('VMState')) === 'stopped') return undefined;
    return { kind: 'virtualbox', vboxManage: vbox.bin, vmName: this.vmName, uuid: found.state.uuid };
  }

  async setImage(isoPath: string): Promise<void> {
    await this.ready();
    const found = await this.mustBeOurs();
    if (foldVmState(found.info.get('VMState')) !== 'stopped') {
      throw new SkiffError('vbox-running', `the VirtualBox VM ${this.vmName} must be stopped to change its boot image`, {
        hint: 'run `skiff stop` first',
        exitCode: ExitCode.conflict,
      });
    }
    try {
      await this.attach(isoPath, 'dvddrive', DVD_PORT);
    } catch (e) {
      throw this.wrap(e);
    }
  }

  async remove(): Promise<void> {
    const vbox = await this.ready();
    const found = await this.lookup();
    if (found.kind === 'foreign') throw this.nameTaken(false);
    if (found.kind === 'ours') {
      if (foldVmState(found.info.get('VMState')) !== 'stopped') await this.stop({ force: true });
      try {
        // --delete removes the VM's files and its hard disks; the ISO (a DVD medium) is left alone.
        await vbox.run(['unregistervm', this.vmName, '--delete'], { retryLockedMs: LOCK_RETRY_MS });
      } catch (e) {
        if (!(e instanceof VBoxManageFailure && classify(e.stderr) === 'not-found')) throw this.wrap(e);
      }
    }
    await rm(this.spec.paths.driverDir, { recursive: true, force: true });
  }

  // --- helpers ---

  private async ready(): Promise<VBoxManage> {
    if (this.vbox) return this.vbox;
    const vbox = new VBoxManage(await locateVBoxManage());
    let out: string;
    try {
      out = await vbox.run(['--version'], { timeoutMs: 30_000 });
    } catch (e) {
      throw new SkiffError('vbox-broken', `VBoxManage --version failed: ${e instanceof VBoxManageFailure ? e.message : String(e)}`, {
        hint: 'reinstall VirtualBox from https://www.virtualbox.org/wiki/Downloads, or use --driver qemu',
        exitCode: ExitCode.environment,
        cause: e,
      });
    }
    const version = parseVersion(out);
    if (!version) {
      throw new SkiffError('vbox-broken', `cannot read VirtualBox's version from ${JSON.stringify(out.trim().slice(0, 80))}`, {
        hint: 'reinstall VirtualBox from https://www.virtualbox.org/wiki/Downloads, or use --driver qemu',
        exitCode: ExitCode.environment,
      });
    }
    requireSupported(version);
    this.version = version;
    this.vbox = vbox;
    return vbox;
  }

  /** modifyvm options for a new VM. Audio and USB options were renamed in 7.0; 6.1 knows only the old names. */
  private hardwareArgs(sshPort: number): string[] {
    const v7 = this.version !== undefined && atLeast(this.version, 7, 0);
    return [
      '--cpus', String(this.spec.cpus),
      '--memory', String(this.spec.memoryMiB),
      '--paravirtprovider', 'kvm',
      '--rtcuseutc', 'on',
      ...(v7 ? ['--audio-driver', 'none'] : ['--audio', 'none']),
      ...(v7 ? ['--usb-ohci', 'off'] : ['--usb', 'off']),
      '--boot1', 'dvd', '--boot2', 'disk', '--boot3', 'none', '--boot4', 'none',
      '--nic1', 'nat', '--nictype1', 'virtio',
      '--natpf1', natRule(sshPort),
      ...this.privateNicArgs(),
      '--uart1', '0x3F8', '4',
      '--uartmode1', 'file', this.spec.paths.consoleLog,
    ];
  }

  /** The private network: an internal network (host-only would reach the host), MAC as the guest expects it. */
  private privateNicArgs(): string[] {
    const nic = this.spec.privateNic;
    if (!nic) return [];
    return ['--nic2', 'intnet', '--nictype2', 'virtio', '--intnet2', nic.intnet, '--macaddress2', nic.mac.replaceAll(':', '').toUpperCase()];
  }

  private async attach(medium: string, type: 'hdd' | 'dvddrive', port: string): Promise<void> {
    await this.vbox!.run(
      ['storageattach', this.vmName, '--storagectl', CONTROLLER, '--port', port, '--device', '0', '--type', type, '--medium', medium],
      { retryLockedMs: LOCK_RETRY_MS },
    );
  }

  private async control(args: string[]): Promise<void> {
    try {
      await this.vbox!.run(['controlvm', this.vmName, ...args]);
    } catch (e) {
      throw this.wrap(e);
    }
  }

  private async lookup(): Promise<Lookup> {
    let out: string;
    try {
      out = await this.vbox!.run(['showvminfo', this.vmName, '--machinereadable']);
    } catch (e) {
      if (e instanceof VBoxManageFailure && classify(e.stderr) === 'not-found') return { kind: 'absent' };
      throw this.wrap(e);
    }
    const info = parseMachineReadable(out);
    const state = await readState(this.spec.paths.driverDir);
    if (state && state.uuid === info.get('UUID')) return { kind: 'ours', info, state };
    return { kind: 'foreign', info };
  }

  private async mustBeOurs(): Promise<{ info: MachineReadable; state: VBoxState }> {
    const found = await this.lookup();
    if (found.kind === 'ours') return found;
    if (found.kind === 'foreign') throw this.nameTaken(false);
    throw new SkiffError('vbox-vm-not-found', `VirtualBox has no VM named ${this.vmName}`, {
      hint: 'run `skiff init` to create the machine',
      exitCode: ExitCode.notFound,
    });
  }

  private nameTaken(ours: boolean): SkiffError {
    if (ours) {
      return new SkiffError('vbox-exists', `the VirtualBox VM ${this.vmName} already exists`, {
        hint: 'run `skiff delete` first to make it again',
        exitCode: ExitCode.conflict,
      });
    }
    return new SkiffError('vbox-name-taken', `a VirtualBox VM named ${this.vmName} exists that skiff did not create`, {
      hint: `rename or remove that VM in VirtualBox (VBoxManage modifyvm ${this.vmName} --name OTHER), or choose another machine name`,
      exitCode: ExitCode.conflict,
    });
  }

  /** Keeps the stored port unless something else now holds it; then moves the forward to a free one. */
  private async ensureFreePort(state: VBoxState, hooks?: StartHooks): Promise<VBoxState> {
    if (await isPortFree(state.sshPort)) return state;
    const port = await freePort();
    hooks?.notice?.(`port ${state.sshPort} on 127.0.0.1 is taken by another program; SSH is forwarded from ${port} instead`);
    return this.movePort(state, port);
  }

  /**
   * VirtualBox's rule is the truth (someone may have edited the VM): adopt its
   * port, and put the rule back on 127.0.0.1 when it is missing or bound wider.
   */
  private async syncRule(info: MachineReadable, state: VBoxState): Promise<VBoxState> {
    const rule = natRules(info).find((r) => r.name === SSH_RULE);
    if (!rule || rule.hostIp !== '127.0.0.1' || rule.guestPort !== 22) {
      return this.movePort(state, rule && rule.hostPort > 0 ? rule.hostPort : state.sshPort, rule !== undefined);
    }
    if (rule.hostPort === state.sshPort) return state;
    const next = { ...state, sshPort: rule.hostPort };
    await writeState(this.spec.paths.driverDir, next);
    return next;
  }

  private async movePort(state: VBoxState, port: number, ruleExists = true): Promise<VBoxState> {
    const vbox = this.vbox!;
    try {
      if (ruleExists) await vbox.run(['modifyvm', this.vmName, '--natpf1', 'delete', SSH_RULE], { retryLockedMs: LOCK_RETRY_MS });
      await vbox.run(['modifyvm', this.vmName, '--natpf1', natRule(port)], { retryLockedMs: LOCK_RETRY_MS });
    } catch (e) {
      throw this.wrap(e);
    }
    const next = { ...state, sshPort: port };
    await writeState(this.spec.paths.driverDir, next);
    return next;
  }

  /** The forward VirtualBox actually has is the truth; state.json is the fallback. */
  private endpointFrom(info: MachineReadable, state: VBoxState): SshEndpoint {
    const rule = natRules(info).find((r) => r.name === SSH_RULE && r.guestPort === 22);
    return { host: '127.0.0.1', port: rule?.hostPort ?? state.sshPort };
  }

  /** Best effort: whatever create() made goes, so a retry starts clean. The original error is what the user sees. */
  private async undoCreate(registered: boolean): Promise<void> {
    const vbox = this.vbox!;
    if (registered) {
      await vbox.run(['unregistervm', this.vmName, '--delete'], { retryLockedMs: LOCK_RETRY_MS }).catch(() => undefined);
    }
    // A disk that was converted and resized but never attached is still in VirtualBox's media registry.
    const disk = dataDiskPath(this.spec.paths.driverDir);
    if (await exists(disk)) await vbox.run(['closemedium', 'disk', disk, '--delete']).catch(() => undefined);
    await rm(this.spec.paths.driverDir, { recursive: true, force: true });
  }

  private wrap(e: unknown): unknown {
    return e instanceof VBoxManageFailure ? toSkiffError(e, this.vmName) : e;
  }
}

function natRule(port: number): string {
  return `${SSH_RULE},tcp,127.0.0.1,${port},,22`;
}

