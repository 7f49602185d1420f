import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, ExitCode, SkiffError } from '../../errors.js';
import { cacheDir, machineFlag } from '../../layout/paths.js';
import { freePort } from '../../util/free-port.js';
import { processCommandLine } from '../../util/process-alive.js';
import { processStartTime } from '../../util/process-start.js';
import { terminate } from '../../util/terminate.js';
import { waitUntil } from '../../util/wait.js';
import type { Driver, DriverInfo, MachineSpec, PauseControl, ResumeResult, SavedState, Share, SshEndpoint, StartHooks, UdpForwarding, VmState, VmWatch } from '../driver.js';
import { chooseAccelerator, tcgNotice } from './accel.js';
import { buildQemuArgv, USER_NETDEV, virtiofsIds, withoutFsDevices, type Accel, type QemuShareFs } from './argv.js';
import { plugVirtiofs, unplugVirtiofs } from './fs-hotplug.js';
import { chooseShareFs, probeShareHost, type ShareHost } from './share-fs.js';
import { startVirtiofsd, stopVirtiofsds, virtiofsdFiles } from './virtiofsd.js';
import { findOnPath, firstLine, qemuSystemName, qemuVersion, requireBinary } from './binaries.js';
import { bootSourceMatches, extractBootFiles, loadBootFiles, type BootFiles } from './boot-files.js';
import { incomingDone, saveVm } from './migrate.js';
import {
  integrityCheck,
  loadCommand,
  loadedMarker,
  mismatch,
  normalizeArgv,
  readSavedRecord,
  removeSavedState,
  saveCommand,
  savedStateFiles,
  savedStateOf,
  sha256File,
  stampAll,
  stampOf,
  writeSavedRecord,
  type SavedStateFiles,
} from './saved-state.js';
import { createDataDisk } from './data-disk.js';
import { qmpOnce } from './qmp.js';
import { checkRuntimeParents } from '../../layout/runtime-dir.js';
import { readPidFile } from '../../util/pid-file.js';
import { qemuRuntimeFiles, readRunState, writeRunState } from './state-file.js';
import { exists } from '../../util/exists.js';

const HOST = '127.0.0.1';
const START_ATTEMPTS = 3;
const DAMAGED = 'is damaged (its checksum does not match)';

// Unix socket paths are capped near 104-108 bytes depending on the OS.
const MAX_SOCKET_PATH = 100;

/** What start() and resume() decide before QEMU runs. */
interface BootPlan {
  qemuSystem: string;
  version: string;
  accel: Accel;
  boot: BootFiles;
  shares: Share[];
  shareFs: QemuShareFs;
  /** virtiofsd's path, when shareFs is virtiofs. */
  virtiofsd?: string;
}

interface LiveRun {
  pid: number;
  /** Undefined only if both state.json and the command line fail to say (never for a QEMU we started). */
  sshPort?: number;
  accel?: Accel;
}

/** QEMU behind the Driver interface: direct kernel boot, user-mode networking, QMP for control. */
export class QemuDriver implements Driver {
  readonly passesBootSettings = true;
  readonly name = 'qemu' as const;
  private isoPath: string;
  private shareHost?: Promise<ShareHost>;

  /** `pickPort` is replaceable so tests can hand QEMU a taken port and watch start() retry. */
  constructor(
    private readonly spec: MachineSpec,
    private readonly opts: { pickPort?: () => Promise<number> } = {},
  ) {
    // Absolute, because a daemonized QEMU changes its working directory to "/".
    this.isoPath = path.resolve(spec.isoPath);
  }

  get dataDisk(): string {
    return path.resolve(this.spec.paths.driverDir, 'data.qcow2');
  }
  private get stateFile(): string {
    return path.resolve(this.spec.paths.driverDir, 'state.json');
  }
  get qmpSocket(): string {
    return qemuRuntimeFiles(this.spec.paths.runDir).qmpSocket;
  }
  udpForwarding(): UdpForwarding {
    return { kind: 'qemu', qmpSocket: this.qmpSocket, netdev: USER_NETDEV };
  }
  pauseControl(): PauseControl {
    return { kind: 'qemu', qmpSocket: this.qmpSocket, dataDisk: this.dataDisk };
  }
  get pidFile(): string {
    return qemuRuntimeFiles(this.spec.paths.runDir).pidFile;
  }

  async check(): Promise<void> {
    await this.binaries();
  }

  async create(): Promise<void> {
    const { qemuImg } = await this.binaries();
    const dir = this.spec.paths.driverDir;
    if (await exists(this.dataDisk)) {
      throw new SkiffError('disk-exists', `machine ${this.spec.name} already has a data disk (${this.dataDisk})`, {
        hint: 'skiff never overwrites a data disk: delete the machine first if you really want a new one',
        exitCode: ExitCode.conflict,
      });
    }
    const dirExisted = await exists(dir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      await extractBootFiles(this.isoPath, dir);
      await createDataDisk({ qemuImg, seed: this.spec.paths.seed, dest: this.dataDisk, sizeGiB: this.spec.diskGiB });
    } catch (e) {
      // Only what this call made: the disk did not exist before, the boot files are ours.
      await rm(this.dataDisk, { force: true });
      await rm(path.join(dir, 'boot'), { recursive: true, force: true });
      if (!dirExisted) await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  async start(hooks: StartHooks = {}): Promise<SshEndpoint> {
    await this.binaries();
    await this.requireCreated();
    const live = await this.liveRun();
    if (live !== undefined) {
      if (live.sshPort !== undefined) return { host: HOST, port: live.sshPort };
      throw new SkiffError('qemu-state', `QEMU (pid ${live.pid}) runs machine ${this.spec.name}, but its SSH port is unknown`, {
        hint: `stop it and start again: skiff stop --force${machineFlag(this.spec.name)}`,
      });
    }
    // A crashed run's pid file, socket and state go now, under the caller's lock;
    // a saved state too, since this boot changes the disk under it.
    await this.cleanupRuntime();
    await removeSavedState(this.savedFiles);
    const plan = await this.plan(hooks);
    await this.prepareRunDir();
    await this.rotateConsoleLog();
    const { sshPort } = await this.launch(plan, []);
    return { host: HOST, port: sshPort };
  }

  async suspend(): Promise<SavedState> {
    const live = await this.liveRun();
    const run = await readRunState(this.stateFile);
    if (live === undefined) {
      throw new SkiffError('not-running', `machine ${this.spec.name} is not running`, { hint: 'only a running machine can be suspended', exitCode: ExitCode.conflict });
    }
    if (run?.argv === undefined || run.pid !== live.pid) {
      throw new SkiffError('qemu-state', `machine ${this.spec.name} was started by an older skiff, which did not record its QEMU command line`, {
        hint: `restart it once (skiff restart${machineFlag(this.spec.name)}), then suspend it`,
        exitCode: ExitCode.conflict,
      });
    }
    const { qemuSystem } = await this.binaries();
    const version = await qemuVersion(qemuSystem);
    const files = this.savedFiles;
    await removeSavedState(files);
    const zstd = await findOnPath('zstd');
    const unplugged = run.shareFs === 'virtiofs' ? await this.unplugShares() : [];
    try {
      await saveVm(this.qmpSocket, saveCommand(files.partial, zstd), files.partial);
    } catch (e) {
      // The VM runs on: its shares come back for the caller to mount.
      await this.replugShares(unplugged).catch(() => undefined);
      throw e;
    }
    // The stream is whole: QEMU may go. It flushes and closes the data disk as it exits.
    await qmpOnce(this.qmpSocket, 'quit', undefined, 5000).catch(() => undefined);
    if (!(await this.waitGone(live.pid, 30_000))) await terminate(live.pid, { gone: async () => !(await this.isOurs(live.pid)), termMs: 10_000, killMs: 10_000, intervalMs: 200 });
    await this.cleanupRuntime();
    const boot = await loadBootFiles(path.resolve(this.spec.paths.driverDir));
    const size = (await stat(files.partial)).size;
    const savedAt = new Date().toISOString();
    await writeSavedRecord(files.record, {
      version: 1,
      savedAt,
      format: zstd ? 'zstd' : 'raw',
      sizeBytes: size,
      ...(zstd ? {} : { sha256: await sha256File(files.partial) }),
      qemu: { binary: qemuSystem, version },
      // What resume() launches: the virtiofs devices, gone from the saved VM, are plugged in after.
      argv: withoutFsDevices(run.argv),
      files: await stampAll(this.vmFiles(boot)),
    });
    // Last: a state file is only ever there with its record beside it.
    await rename(files.partial, files.state);
    return { savedAt, sizeBytes: size };
  }

  async savedState(): Promise<SavedState | undefined> {
    return savedStateOf(this.savedFiles);
  }

  async discardSavedState(): Promise<void> {
    await removeSavedState(this.savedFiles);
  }

  async resume(hooks: StartHooks = {}): Promise<ResumeResult> {
    const files = this.savedFiles;
    const rec = await readSavedRecord(files.record);
    const saved = await stampOf(files.state);
    if (rec === undefined || saved === undefined) {
      // Half a save (the record or the stream alone) is what a killed suspend leaves.
      return this.discard(rec !== undefined || saved !== undefined || (await exists(files.partial)) ? 'is incomplete (the suspend was interrupted)' : 'is missing');
    }
    await this.requireCreated();
    if ((await this.liveRun()) !== undefined) return this.discard('is out of date: the VM is running');
    await this.cleanupRuntime();
    const plan = await this.plan(hooks);
    const zstd = rec.format === 'zstd' ? await findOnPath('zstd') : undefined;
    const why =
      (rec.format === 'zstd' && zstd === undefined ? 'needs zstd to be loaded, and zstd is not on PATH' : undefined) ??
      mismatch(rec, { qemu: { binary: plan.qemuSystem, version: plan.version }, argv: this.argvFor(plan, 0, false), files: await stampAll(this.vmFiles(plan.boot)) }) ??
      (saved.size !== rec.sizeBytes ? `is damaged (${saved.size} bytes, ${rec.sizeBytes} saved)` : undefined);
    if (why !== undefined) return this.discard(why);

    await this.prepareRunDir();
    await this.rotateConsoleLog();
    await rm(loadedMarker(files.state), { force: true });
    // The stream's integrity is known while or right after QEMU loads it; the guest runs (cont) only if it holds.
    const intact = integrityCheck(files.state, rec, zstd);
    let sshPort: number;
    try {
      // -S: whatever the stream says, the guest does not run before the checks below.
      ({ sshPort } = await this.launch(plan, ['-S', '-incoming', `exec:${loadCommand(files.state, zstd)}`], (port) => hooks.sshEndpoint?.({ host: HOST, port }, plan.shareFs), false));
    } catch (e) {
      // A damaged stream can make QEMU give up before it is up at all: the checksum names the cause
      // (zstd's, if QEMU ran it: a QEMU that failed before that leaves no verdict to wait for).
      return this.discard((await intact(2_000)) === 'damaged' ? DAMAGED : `could not be loaded (${errorMessage(e)})`);
    }
    const loaded = await incomingDone(this.qmpSocket);
    const verdict = await intact();
    if (verdict !== 'intact' || loaded !== 'completed') {
      await this.stop({ force: true });
      return this.discard(verdict === 'damaged' ? DAMAGED : loaded !== 'completed' ? `did not load (QEMU: ${loaded})` : `did not load (${verdict})`);
    }
    // From the first instruction on the guest changes the disk: the state is spent.
    await removeSavedState(files);
    if (plan.shareFs === 'virtiofs' && plan.shares.length > 0) {
      // Plugged while the guest is still stopped: a device_add into a running TCG guest waits about
      // a second for QEMU's lock, and the guest sees the new devices at its first instruction.
      // The guest runs on without them if this fails; mounting then names the shares that are missing.
      await this.replugShares(plan.shares.map((_, i) => i)).catch((e: unknown) => hooks.notice?.(`shared folders could not be plugged back in: ${errorMessage(e)}`));
    }
    await qmpOnce(this.qmpSocket, 'cont', undefined, 10_000);
    return { resumed: true, ssh: { host: HOST, port: sshPort } };
  }

  private async discard(why: string): Promise<ResumeResult> {
    await removeSavedState(this.savedFiles);
    return { resumed: false, why };
  }

  private get savedFiles(): SavedStateFiles {
    return savedStateFiles(this.spec.paths.driverDir);
  }

  /** The files a saved state depends on, by the names its record gives them. */
  private vmFiles(boot: BootFiles): Record<string, string> {
    return { dataDisk: this.dataDisk, iso: this.isoPath, kernel: path.resolve(boot.kernel), initrd: path.resolve(boot.initrd) };
  }

  /** What a boot of this machine needs decided before QEMU runs: the same for a cold start and a resume. */
  private async plan(hooks: StartHooks): Promise<BootPlan> {
    const { qemuSystem } = await this.binaries();
    const dir = path.resolve(this.spec.paths.driverDir);
    if (!(await bootSourceMatches(this.isoPath, dir))) await extractBootFiles(this.isoPath, dir);
    const boot = await loadBootFiles(dir);
    const version = await qemuVersion(qemuSystem);
    const verdict = await chooseAccelerator({
      qemuBinary: qemuSystem,
      qemuVersion: version,
      arch: this.spec.arch,
      kernel: boot.kernel,
      cacheFile: path.join(cacheDir(this.spec.paths.home), 'accel.json'),
    });
    if (verdict.reason !== undefined) hooks.notice?.(tcgNotice(verdict.reason));
    const { shares, shareFs, virtiofsd } = await this.usableShares(qemuSystem, hooks);
    return { qemuSystem, version, accel: verdict.accel, boot, shares, shareFs, ...(virtiofsd ? { virtiofsd } : {}) };
  }

  /** fsDevices false: a resume's command line, whose virtiofs devices are plugged in once it runs. */
  private argvFor(plan: BootPlan, sshPort: number, fsDevices = true): string[] {
    return buildQemuArgv({
      name: this.spec.name,
      arch: this.spec.arch,
      accel: plan.accel,
      qemuVersion: plan.version,
      cpus: this.spec.cpus,
      memoryMiB: this.spec.memoryMiB,
      kernel: plan.boot.kernel,
      initrd: plan.boot.initrd,
      append: withBinfmt(withRebootOnPanic(plan.boot.cmdline), this.spec.binfmt ?? false),
      dataDisk: this.dataDisk,
      isoPath: this.isoPath,
      sshPort,
      qmpSocket: this.qmpSocket,
      consoleLog: path.resolve(this.spec.paths.consoleLog),
      pidFile: this.pidFile,
      shares: plan.shares.map((sh) => ({ ...sh, hostPath: path.resolve(sh.hostPath) })),
      shareFs: plan.shareFs,
      virtiofsSockets: plan.shares.map((_, i) => virtiofsdFiles(this.spec.paths.runDir, i).socket),
      fsDevices,
      ...(this.spec.privateNic ? { privateNic: this.spec.privateNic } : {}),
      daemonize: true,
    });
  }

  /** Runs QEMU detached with `extra` after the machine's own options; a port taken meanwhile is retried on a fresh one. */
  private async launch(plan: BootPlan, extra: string[], onPort?: (port: number) => void, fsDevices = true): Promise<{ sshPort: number }> {
    // Disks made by older versions were created world-readable.
    await chmod(this.dataDisk, 0o600).catch(() => {});
    let lastError = '';
    let lastStderr = '';
    for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
      const sshPort = await (this.opts.pickPort ?? (() => freePort(HOST)))();
      const argv = [...this.argvFor(plan, sshPort, fsDevices), ...extra];
      onPort?.(sshPort);
      // Each virtiofsd serves one QEMU connection: a failed attempt may have used them up.
      if (fsDevices) await this.startVirtiofsds(plan).catch(async (e: unknown) => {
        await stopVirtiofsds(this.spec.paths.runDir);
        throw e;
      });
      // With -daemonize QEMU reports setup errors on stderr and exits non-zero before it detaches.
      const { execa } = await import('execa');
      const r = await execa(plan.qemuSystem, argv, { reject: false, stdin: 'ignore', timeout: 120_000 });
      if (r.exitCode === 0) {
        const pid = await waitUntil(() => readPidFile(this.pidFile), { timeoutMs: 10_000 });
        if (pid === undefined) {
          throw new SkiffError('qemu-start', `QEMU started but wrote no pid file (${this.pidFile})`, {
            hint: `check the console log ${this.spec.paths.consoleLog}, then run \`skiff stop --force\``,
          });
        }
        // QMP controls the whole VM; QEMU creates its socket with the umask's mode.
        await chmod(this.qmpSocket, 0o600).catch(() => {});
        await writeRunState(this.stateFile, {
          version: 1,
          pid,
          sshPort,
          accel: plan.accel,
          qmpSocket: this.qmpSocket,
          startedAt: new Date().toISOString(),
          argv: normalizeArgv(argv),
          shareFs: plan.shareFs,
        });
        return { sshPort };
      }
      lastError = firstLine(r.stderr) || (r.timedOut ? 'timed out while starting' : `exit ${r.exitCode}`);
      lastStderr = r.stderr;
      await this.killStray();
      await this.cleanupRuntime();
      // Another process took the port between our probe and QEMU's bind: take a fresh one.
      if (!/host ?forward/i.test(r.stderr)) break;
    }
    throw new SkiffError('qemu-start', `QEMU failed to start machine ${this.spec.name}: ${lastError}`, {
      hint: 'the message is QEMU\'s own: fix what it names (a missing file, a resource in use) and start again',
      cause: new Error(lastStderr),
    });
  }

  async stop(opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const live = await this.liveRun();
    if (live === undefined) {
      await this.cleanupRuntime();
      return;
    }
    const { pid } = live;
    const send = (cmd: string) => qmpOnce(this.qmpSocket, cmd, undefined, 5000).then(() => true, () => false);
    let gone = false;
    if (!opts.force && (await send('system_powerdown'))) gone = await this.waitGone(pid, opts.timeoutMs ?? 30_000);
    if (!gone && (await send('quit'))) gone = await this.waitGone(pid, 10_000);
    // QMP unreachable or ignored: SIGTERM still lets QEMU flush the disk; SIGKILL is the last resort.
    if (!gone) gone = await terminate(pid, { gone: async () => !(await this.isOurs(pid)), termMs: 10_000, killMs: 10_000, intervalMs: 200 });
    if (!gone) {
      throw new SkiffError('qemu-stop', `QEMU (pid ${pid}) did not exit, even after SIGKILL`, {
        hint: `check the process with \`ps -p ${pid}\``,
      });
    }
    await this.cleanupRuntime();
  }

  /** A QEMU that got as far as its pid file before start() gave up on it (e.g. a timeout) must not linger. */
  private async killStray(): Promise<void> {
    const pid = await readPidFile(this.pidFile);
    if (pid !== undefined && (await this.isOurs(pid))) {
      this.signal(pid, 'SIGKILL');
      await this.waitGone(pid, 10_000);
    }
  }

  private signal(pid: number, sig: NodeJS.Signals): boolean {
    try {
      process.kill(pid, sig);
      return true;
    } catch {
      return false;
    }
  }

  async state(): Promise<VmState> {
    if (!(await exists(this.dataDisk))) return 'not-created';
    const live = await this.liveRun();
    if (live === undefined) return (await this.savedState()) ? 'suspended' : 'stopped';
    try {
      const s = await qmpOnce<{ status?: string }>(this.qmpSocket, 'query-status', undefined, 3000);
      return foldRunStatus(s.status);
    } catch {
      // Alive and ours, but the monitor is busy (another client) or not up yet.
      return 'running';
    }
  }

  async sshEndpoint(): Promise<SshEndpoint | undefined> {
    const live = await this.liveRun();
    return live?.sshPort === undefined ? undefined : { host: HOST, port: live.sshPort };
  }

  async info(): Promise<DriverInfo> {
    const out: DriverInfo = {};
    try {
      out.version = await qemuVersion(await requireBinary(qemuSystemName(this.spec.arch)));
    } catch {
      // info() describes what is there; check() is where a missing QEMU is an error.
    }
    const live = await this.liveRun();
    if (live !== undefined) {
      out.pid = live.pid;
      if (live.accel !== undefined) out.accelerator = live.accel;
      // A run state without it is an older skiff's, which had only 9p.
      if (this.spec.shares.length > 0) out.shareFs = (await readRunState(this.stateFile))?.shareFs ?? '9p';
    } else if (this.spec.shares.length > 0) {
      // What the next start would use.
      const choice = await this.probeShares(await requireBinary(qemuSystemName(this.spec.arch))).catch(() => undefined);
      if (choice !== undefined && choice.fs !== 'none') out.shareFs = choice.fs;
    }
    return out;
  }

  async watch(): Promise<VmWatch | undefined> {
    const live = await this.liveRun();
    const startTime = live === undefined ? undefined : await processStartTime(live.pid);
    if (live === undefined || startTime === undefined) return undefined;
    return { kind: 'process', label: 'QEMU', pid: live.pid, startTime, pidFile: this.pidFile, leftovers: [this.pidFile, this.qmpSocket, this.stateFile] };
  }

  async setImage(isoPath: string): Promise<void> {
    await this.requireCreated();
    if ((await this.liveRun()) !== undefined) {
      throw new SkiffError('machine-running', `machine ${this.spec.name} is running`, {
        hint: `stop it first: skiff stop${machineFlag(this.spec.name)}`,
        exitCode: ExitCode.conflict,
      });
    }
    await extractBootFiles(isoPath, this.spec.paths.driverDir);
    this.isoPath = path.resolve(isoPath);
  }

  async remove(): Promise<void> {
    if ((await this.liveRun()) !== undefined) await this.stop({ force: true });
    await this.cleanupRuntime();
    await rm(this.spec.paths.driverDir, { recursive: true, force: true });
    await rm(this.spec.paths.consoleLog, { force: true });
    await rm(`${this.spec.paths.consoleLog}.1`, { force: true });
  }

  /**
   * The running QEMU of this machine, if any. A pid is trusted only when the
   * process's command line names this machine's QMP socket; anything else is a
   * crash leftover (or a reused pid). Read-only: `status` calls this without the
   * machine lock, so the leftovers are removed only by start, stop and remove,
   * which hold it (a racing `start` may have just written a fresh pid file).
   */
  private async liveRun(): Promise<LiveRun | undefined> {
    const st = await readRunState(this.stateFile);
    const pid = (await readPidFile(this.pidFile)) ?? st?.pid;
    const cmd = pid === undefined ? undefined : await processCommandLine(pid);
    if (pid === undefined || cmd === undefined || !cmd.includes(this.qmpSocket)) return undefined;
    const fromState = st?.pid === pid;
    return {
      pid,
      sshPort: fromState ? st.sshPort : portFromCommandLine(cmd),
      accel: fromState ? st.accel : accelFromCommandLine(cmd),
    };
  }

  private async isOurs(pid: number): Promise<boolean> {
    const cmd = await processCommandLine(pid);
    return cmd !== undefined && cmd.includes(this.qmpSocket);
  }

  /** Gone means not our QEMU any more: exited, a zombie waiting for its reaper, or a reused pid. */
  private async waitGone(pid: number, timeoutMs: number): Promise<boolean> {
    const r = await waitUntil(async () => !(await this.isOurs(pid)), { timeoutMs, intervalMs: 50 });
    return r === true;
  }

  private async cleanupRuntime(): Promise<void> {
    await stopVirtiofsds(this.spec.paths.runDir);
    await rm(this.pidFile, { force: true });
    await rm(this.qmpSocket, { force: true });
    await rm(this.stateFile, { force: true });
  }

  private async prepareRunDir(): Promise<void> {
    if (this.qmpSocket.length > MAX_SOCKET_PATH) {
      throw new SkiffError('socket-path', `the runtime dir ${this.spec.paths.runDir} is too long for a unix socket`, {
        hint: 'set SKIFF_RUNTIME_DIR to a short directory, e.g. /tmp/skiff',
        exitCode: ExitCode.environment,
      });
    }
    await checkRuntimeParents(this.spec.paths.runDir);
    await mkdir(this.spec.paths.runDir, { recursive: true, mode: 0o700 });
    await chmod(this.spec.paths.runDir, 0o700);
    // Again now that every parent exists: one made by someone else in between is refused.
    await checkRuntimeParents(this.spec.paths.runDir);
  }

  /** The console log is truncated at each start; the previous boot's stays as console.log.1. */
  private async rotateConsoleLog(): Promise<void> {
    const log = this.spec.paths.consoleLog;
    await mkdir(path.dirname(log), { recursive: true });
    if (await exists(log)) await rename(log, `${log}.1`);
  }

  private async probeShares(qemuSystem: string): Promise<ReturnType<typeof chooseShareFs> & { host: ShareHost }> {
    this.shareHost ??= probeShareHost(qemuSystem, this.spec.shareFs);
    const host = await this.shareHost;
    return { ...chooseShareFs(host, this.spec.shares), host };
  }

  private async usableShares(qemuSystem: string, hooks: StartHooks): Promise<{ shares: Share[]; shareFs: QemuShareFs; virtiofsd?: string }> {
    if (this.spec.shares.length === 0) return { shares: [], shareFs: '9p' };
    const choice = await this.probeShares(qemuSystem);
    if (choice.notice !== undefined) hooks.notice?.(choice.notice);
    if (choice.fs === 'none') return { shares: [], shareFs: '9p' };
    return { shares: this.spec.shares, shareFs: choice.fs, ...(choice.fs === 'virtiofs' && choice.host.virtiofsd ? { virtiofsd: choice.host.virtiofsd } : {}) };
  }

  private get virtiofsdLog(): string {
    return path.resolve(this.spec.paths.driverDir, 'virtiofsd.log');
  }

  /** One virtiofsd per share, listening before QEMU connects to it. */
  private async startVirtiofsds(plan: BootPlan, indexes = plan.shares.map((_, i) => i)): Promise<void> {
    if (plan.shareFs !== 'virtiofs' || plan.virtiofsd === undefined) return;
    for (const i of indexes) {
      await startVirtiofsd({ binary: plan.virtiofsd, runDir: this.spec.paths.runDir, index: i, share: { ...plan.shares[i]!, hostPath: path.resolve(plan.shares[i]!.hostPath) }, log: this.virtiofsdLog });
    }
  }

  /** Unplugs the running VM's virtiofs devices; if one will not go, those that went come back and the error stands. */
  private async unplugShares(): Promise<number[]> {
    try {
      const gone = await unplugVirtiofs(this.qmpSocket);
      // Each virtiofsd exits once its connection closes; one that lingers would hold the share.
      await stopVirtiofsds(this.spec.paths.runDir);
      return gone;
    } catch (e) {
      await this.replugShares(this.spec.shares.map((_, i) => i)).catch(() => undefined);
      throw new SkiffError('suspend-failed', `cannot suspend machine ${this.spec.name}: its shared folders could not be detached (${errorMessage(e)}); the machine runs on`, {
        hint: `\`skiff stop${machineFlag(this.spec.name)}\` shuts it down cleanly instead`,
      });
    }
  }

  /** Fresh virtiofsds, and the devices plugged into the VM that runs (after a resume, or a failed or killed save), for those it lacks. */
  private async replugShares(indexes: number[]): Promise<void> {
    if (indexes.length === 0) return;
    const present = new Set((await qmpOnce<Array<{ name: string }>>(this.qmpSocket, 'qom-list', { path: '/machine/peripheral' })).map((p) => p.name));
    const missing = indexes.filter((i) => i < this.spec.shares.length && !present.has(virtiofsIds(i).device));
    if (missing.length === 0) return;
    const { virtiofsd } = (await this.probeShares((await this.binaries()).qemuSystem)).host;
    if (virtiofsd === undefined) throw new Error('virtiofsd is gone from this host');
    const shares = missing.map((i) => ({ index: i, share: { ...this.spec.shares[i]!, hostPath: path.resolve(this.spec.shares[i]!.hostPath) }, socket: virtiofsdFiles(this.spec.paths.runDir, i).socket }));
    await stopVirtiofsds(this.spec.paths.runDir, missing);
    for (const { index, share } of shares) await startVirtiofsd({ binary: virtiofsd, runDir: this.spec.paths.runDir, index, share, log: this.virtiofsdLog });
    await plugVirtiofs(this.qmpSocket, shares);
  }

  /**
   * A running VM's shares can be mounted: a suspend killed after it unplugged
   * the virtiofs devices (or a save that failed) left the VM without them.
   */
  async sharesReady(): Promise<void> {
    if (this.spec.shares.length === 0 || (await this.liveRun()) === undefined) return;
    if ((await readRunState(this.stateFile))?.shareFs !== 'virtiofs') return;
    await this.replugShares(this.spec.shares.map((_, i) => i));
  }

  private async requireCreated(): Promise<void> {
    if (!(await exists(this.dataDisk))) {
      throw new SkiffError('not-created', `machine ${this.spec.name} has no QEMU disk (${this.dataDisk})`, {
        hint: `create it first: skiff init${machineFlag(this.spec.name)}`,
        exitCode: ExitCode.notFound,
      });
    }
  }

  private async binaries(): Promise<{ qemuSystem: string; qemuImg: string }> {
    const qemuSystem = await requireBinary(qemuSystemName(this.spec.arch));
    const qemuImg = await requireBinary('qemu-img');
    return { qemuSystem, qemuImg };
  }
}

/** QMP query-status "status" → the states skiff acts on. */
export function foldRunStatus(status: string | undefined): VmState {
  switch (status) {
    case 'running':
      return 'running';
    case 'paused':
    case 'suspended':
    // The data disk's error policy paused it (drivers/pause.ts says why).
    case 'io-error':
    // Saved by a migration and not quit (a suspend killed at that moment): `cont` lets it go on.
    case 'finish-migrate':
    case 'postmigrate':
      return 'paused';
    case 'shutdown':
      return 'stopping';
    case 'prelaunch':
    case 'inmigrate':
    case 'restore-vm':
      return 'starting';
    case 'internal-error':
    case 'guest-panicked':
      return 'error';
    default:
      return 'running';
  }
}

/**
 * A guest kernel that panics would otherwise hang with QEMU still running: `status`
 * says running, docker calls time out, and only `stop --force` helps. With panic=N
 * the guest reboots on its own (fsck, engine, agent reconnect) and heals without the
 * user. A cmdline that already sets panic= is left alone.
 */
export function withRebootOnPanic(cmdline: string): string {
  return /(^|\s)panic=/.test(cmdline) ? cmdline : `${cmdline} panic=5`.trim();
}

/**
 * skiff.binfmt=1|0 tells the guest whether to register the other architecture's
 * emulator. It is passed at every start so the machine's config is the truth,
 * whatever the data disk's settings.env says; an image's own value is replaced.
 */
export function withBinfmt(cmdline: string, on: boolean): string {
  const rest = cmdline.split(/\s+/).filter((w) => w !== '' && !w.startsWith('skiff.binfmt='));
  return [...rest, `skiff.binfmt=${on ? 1 : 0}`].join(' ');
}

export function portFromCommandLine(cmd: string): number | undefined {
  const m = /hostfwd=tcp:127\.0\.0\.1:(\d+)-:22/.exec(cmd);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

function accelFromCommandLine(cmd: string): Accel | undefined {
  const m = /-accel (kvm|hvf|tcg)\b/.exec(cmd);
  return m?.[1] as Accel | undefined;
}

