import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExitCode, SkiffError } from '../../errors.js';
import type { Driver, DriverInfo, MachineSpec, PauseControl, ResumeResult, SavedState, SshEndpoint, StartHooks, UdpForwarding, VmState, VmWatch } from '../driver.js';
import { acceleratorFromLog } from './accelerator.js';
import { dataDiskPath, makeDataDisk } from './data-disk.js';
import { classify, firstErrorLine, toSkiffError, VBoxManageFailure } from './errors.js';
import { locateVBoxManage } from './locate.js';
import { natRules, parseMachineReadable, type MachineReadable } from './machinereadable.js';
import { freePort } from '../../util/free-port.js';
import { isPortFree } from './ports.js';
import { currentRecord, isoTime, mismatch, readRecord, recordExists, removeRecord, writeRecord } from './saved-state.js';
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
/** A 2 GiB guest is written in seconds; a slow disk may take minutes. */
const SAVE_TIMEOUT_MS = 10 * 60_000;
/**
 * startvm failures that a cold boot would meet just the same (VirtualBox cannot
 * run any VM now): the saved state is kept for when it can, and the error shown.
 */
const ENVIRONMENT_FAILURES = new Set(['kernel-driver', 'hv-in-use', 'no-hw-virt', 'locked']);

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
  /** The boot image: the spec's, until setImage points the VM at another. */
  private isoPath: string;

  constructor(private readonly spec: MachineSpec) {
    this.vmName = vmNameFor(spec.name);
    this.isoPath = path.resolve(spec.isoPath);
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
    let found = await this.mustBeOurs();
    let st = foldVmState(found.info.get('VMState'));
    if (st === 'suspended') {
      // A cold boot: startvm would resume the saved state instead, so it goes first.
      await this.discardstate();
      found = await this.mustBeOurs();
      st = foldVmState(found.info.get('VMState'));
    }
    // Stale after any boot: the guest is about to change the disk under a saved state.
    await removeRecord(this.spec.paths.driverDir);
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
    await this.syncImage(found.info);
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
    if (st === 'suspended') {
      // Nothing runs. The saved state is the guest's memory: only a forced stop throws it away.
      if (opts.force) await this.discardSavedState();
      return;
    }
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

  /**
   * `controlvm savestate`: VirtualBox pauses the VM, writes its memory and devices
   * to a .sav file in the VM's Snapshots folder (under the driver dir) and powers
   * the VM process off; `startvm` resumes from it. The record of what the state
   * belongs to is written first, so a state never counts without one: a suspend
   * killed before the save leaves a record beside a running VM (thrown away by the
   * next start), one killed after leaves both, which is a whole save.
   */
  async suspend(): Promise<SavedState> {
    const vbox = await this.ready();
    const found = await this.mustBeOurs();
    const st = foldVmState(found.info.get('VMState'));
    if (st !== 'running') {
      throw new SkiffError('not-running', `the VirtualBox VM ${this.vmName} is ${found.info.get('VMState') ?? 'in an unknown state'}, not running`, {
        hint: 'only a running machine can be suspended',
        exitCode: ExitCode.conflict,
      });
    }
    const dir = this.spec.paths.driverDir;
    await writeRecord(dir, await currentRecord({ ...this.spec, isoPath: this.isoPath }, found.state.uuid, this.version!.text));
    try {
      await vbox.run(['controlvm', this.vmName, 'savestate'], { timeoutMs: SAVE_TIMEOUT_MS });
    } catch (e) {
      // VBoxManage resumes the VM itself when the save fails; a VM left paused is resumed here.
      const now = await this.lookup().catch(() => undefined);
      const after = now?.kind === 'ours' ? foldVmState(now.info.get('VMState')) : undefined;
      if (after !== 'suspended') {
        await removeRecord(dir);
        if (after === 'paused') await this.control(['resume']).catch(() => undefined);
        throw this.wrap(e);
      }
      // It was saved after all (VBoxManage timed out or was cut off while VirtualBox finished).
    }
    const deadline = Date.now() + 60_000;
    for (;;) {
      const saved = await this.savedState();
      if (saved) return saved;
      if (Date.now() > deadline) {
        throw new SkiffError('vbox-save-failed', `the VirtualBox VM ${this.vmName} did not reach the saved state`, {
          hint: 'see `skiff status` and the VirtualBox log (VBoxManage showvminfo --log 0)',
          exitCode: ExitCode.failure,
        });
      }
      await sleep(POLL_MS);
    }
  }

  /** What showvminfo says: the time of the save (VMStateChangeTime) and the size of VMStateFile. */
  async savedState(): Promise<SavedState | undefined> {
    await this.ready();
    const found = await this.lookup();
    if (found.kind !== 'ours' || foldVmState(found.info.get('VMState')) !== 'suspended') return undefined;
    const file = found.info.get('VMStateFile');
    const size = file ? await stat(file).then((s) => s.size, () => 0) : 0;
    const savedAt = isoTime(found.info.get('VMStateChangeTime')) ?? (await readRecord(this.spec.paths.driverDir))?.recordedAt ?? new Date(0).toISOString();
    return { savedAt, sizeBytes: size };
  }

  /**
   * Resumes the saved VM with `startvm` if the record says the state still fits
   * this machine; otherwise discards it (`discardstate`) and says why, so the
   * caller boots cold.
   *
   * The SSH port: VirtualBox does not let a saved VM's settings change (modifyvm
   * is refused, "not mutable (state is Saved)"), NAT rules included, so the forward
   * resumes on the port it was saved with. When another program holds that port
   * now, resuming would either fail the power-up (DrvNAT, VirtualBox 6.1/7.0:
   * VERR_NAT_REDIR_SETUP) or start the VM with SSH unreachable (libslirp, 7.1+:
   * only logged). Neither is a usable machine, and moving the rule needs a
   * running VM: the state is discarded and the machine boots cold on a free port,
   * with a notice. The guest flushed its disks before the save, so nothing written
   * is lost; its containers start as after a reboot.
   */
  async resume(hooks: StartHooks = {}): Promise<ResumeResult> {
    const vbox = await this.ready();
    const dir = this.spec.paths.driverDir;
    const found = await this.mustBeOurs();
    const st = foldVmState(found.info.get('VMState'));
    if (st !== 'suspended') {
      // A record beside a VM that is not saved: a suspend killed before VirtualBox saved.
      const torn = await recordExists(dir);
      await removeRecord(dir);
      return { resumed: false, why: torn ? 'is incomplete (the suspend was interrupted before VirtualBox saved the VM)' : 'is missing' };
    }
    const rec = await readRecord(dir);
    const rule = natRules(found.info).find((r) => r.name === SSH_RULE && r.guestPort === 22);
    const file = found.info.get('VMStateFile');
    const why =
      (rec === undefined ? 'has no record of what it belongs to (it was not saved by `skiff suspend`, or its record is damaged)' : undefined) ??
      mismatch(rec!, await currentRecord({ ...this.spec, isoPath: this.isoPath }, found.state.uuid, this.version!.text)) ??
      (file === undefined || !(await exists(file)) ? `is missing its file${file ? ` ${file}` : ''}` : undefined) ??
      (!rule || rule.hostIp !== '127.0.0.1' || rule.hostPort <= 0 ? "was saved without skiff's SSH forward on 127.0.0.1" : undefined) ??
      (!(await isPortFree(rule!.hostPort))
        ? `cannot be resumed: its SSH port ${rule!.hostPort} on 127.0.0.1 is taken by another program now, and VirtualBox cannot move a saved VM's port forward`
        : undefined);
    if (why !== undefined) return this.coldInstead(why);

    hooks.sshEndpoint?.({ host: '127.0.0.1', port: rule!.hostPort });
    try {
      await vbox.run(['startvm', this.vmName, '--type', 'headless'], { retryLockedMs: LOCK_RETRY_MS });
    } catch (e) {
      if (!(e instanceof VBoxManageFailure)) throw e;
      const kind = classify(e.stderr);
      // VirtualBox cannot run anything now: keep the state for when it can.
      if (ENVIRONMENT_FAILURES.has(kind)) throw this.wrap(e);
      // Never a half-restored VM: whatever startvm left running goes before the state does.
      const now = await this.lookup();
      if (now.kind === 'ours' && !['stopped', 'suspended'].includes(foldVmState(now.info.get('VMState')))) await this.control(['poweroff']).catch(() => undefined);
      return this.coldInstead(`could not be resumed (VirtualBox: ${firstErrorLine(e.stderr)})`);
    }
    // VirtualBox deletes the .sav once the VM runs from it: the record goes with it.
    await removeRecord(dir);
    if (found.state.sshPort !== rule!.hostPort) await writeState(dir, { ...found.state, sshPort: rule!.hostPort });
    return { resumed: true, ssh: { host: '127.0.0.1', port: rule!.hostPort } };
  }

  /** `discardstate` when VirtualBox holds a saved state; the record goes either way. */
  async discardSavedState(): Promise<void> {
    await this.ready();
    const found = await this.lookup();
    if (found.kind === 'ours' && foldVmState(found.info.get('VMState')) === 'suspended') await this.discardstate();
    await removeRecord(this.spec.paths.driverDir);
  }

  private async discardstate(): Promise<void> {
    try {
      await this.vbox!.run(['discardstate', this.vmName], { retryLockedMs: LOCK_RETRY_MS });
    } catch (e) {
      throw this.wrap(e);
    }
    await removeRecord(this.spec.paths.driverDir);
  }

  private async coldInstead(why: string): Promise<ResumeResult> {
    await this.discardSavedState();
    return { resumed: false, why };
  }

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
    const st = found.kind === 'ours' ? foldVmState(found.info.get('VMState')) : undefined;
    if (found.kind !== 'ours' || st === 'stopped' || st === 'suspended') return undefined;
    return { kind: 'virtualbox', vboxManage: vbox.bin, vmName: this.vmName, uuid: found.state.uuid };
  }

  async setImage(isoPath: string): Promise<void> {
    await this.ready();
    const found = await this.mustBeOurs();
    const st = foldVmState(found.info.get('VMState'));
    // VirtualBox refuses changes to a saved VM. The saved state keeps its record of the
    // old image, so the next start finds it no longer fits, discards it with a notice,
    // and attaches the configured image before booting cold (start's syncImage).
    if (st === 'suspended') {
      this.isoPath = path.resolve(isoPath);
      return;
    }
    if (st !== 'stopped') {
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
    this.isoPath = path.resolve(isoPath);
  }

  async remove(): Promise<void> {
    const vbox = await this.ready();
    const found = await this.lookup();
    if (found.kind === 'foreign') throw this.nameTaken(false);
    if (found.kind === 'ours') {
      const st = foldVmState(found.info.get('VMState'));
      if (st === 'suspended') await this.discardstate();
      else if (st !== 'stopped') await this.stop({ force: true });
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

  /** The DVD drive holds the configured image (it may have changed while the VM was saved). */
  private async syncImage(info: MachineReadable): Promise<void> {
    const iso = this.isoPath;
    if (info.get(`${CONTROLLER}-${DVD_PORT}-0`) === iso) return;
    try {
      await this.attach(iso, 'dvddrive', DVD_PORT);
    } catch (e) {
      throw this.wrap(e);
    }
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

