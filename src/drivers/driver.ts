import type { Arch } from '../arch.js';
import type { MachinePaths } from '../layout/paths.js';
import type { SshEndpoint } from '../ssh/connect.js';

export type DriverName = 'qemu' | 'virtualbox' | 'ssh';
export type { Arch };

/** What a hypervisor says of a VM, folded to the states skiff acts on. */
export type VmState = 'not-created' | 'stopped' | 'starting' | 'running' | 'stopping' | 'paused' | 'suspended' | 'error';

/**
 * What resume() made of a saved state: the VM running on from it, or the state
 * discarded, `why` a phrase that follows "the saved state" ("is damaged (...)").
 */
export type ResumeResult = { resumed: true; ssh: SshEndpoint } | { resumed: false; why: string };

/** A machine's VM state saved by `skiff suspend`, from which resume() goes on. */
export interface SavedState {
  /** ISO time of the save. */
  savedAt: string;
  /** What it takes on the host's disk. */
  sizeBytes: number;
}

/** A host directory visible in the guest (issue: shared folders). */
export interface Share {
  hostPath: string;
  guestPath: string;
  readOnly: boolean;
  /** Short tag the guest mounts it by (9p mount tag / VirtualBox share name). */
  tag: string;
}

/** Everything a driver needs to know about one machine; built by Machine from the config. */
export interface MachineSpec {
  name: string;
  paths: MachinePaths;
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
  arch: Arch;
  /** The guest ISO, already resolved and verified (usually in the image cache). */
  isoPath: string;
  shares: Share[];
  /** QEMU: what the machine's config asks to carry its shares (unset: the driver's default). */
  shareFs?: '9p' | 'virtiofs';
  /** Run the other architecture's executables through the guest's user-mode emulator (binfmt_misc). */
  binfmt?: boolean;
  /** A second NIC on a skiff private network (skiff init --network), if the machine is on one. */
  privateNic?: PrivateNic;
}

/** Where a machine's second NIC plugs in; the guest configures it by its MAC. */
export interface PrivateNic {
  mac: string;
  /** QEMU: UDP multicast group and port joined on 127.0.0.1. */
  mcastGroup: string;
  mcastPort: number;
  /** VirtualBox: the internal network's name. */
  intnet: string;
}

export type { SshEndpoint };

/**
 * How the agent reaches the hypervisor's NAT to forward published UDP ports at run
 * time (SSH carries no datagrams): QEMU's monitor, or VBoxManage.
 */
export type UdpForwarding = { kind: 'qemu'; qmpSocket: string; netdev: string } | { kind: 'virtualbox'; vboxmanage: string; vm: string };

/**
 * Where a paused VM's cause is read and the VM resumed (drivers/pause.ts): plain
 * data, so the agent can resume a VM that paused on a full host disk by itself.
 */
export type PauseControl =
  | { kind: 'qemu'; qmpSocket: string; dataDisk: string }
  | { kind: 'virtualbox'; vboxManage: string; vm: string; dataDisk: string };

/**
 * Why a VM is paused. host-disk-full: resumes once there is space; host-disk-error:
 * a read or write of the data disk failed on the host for another reason; paused:
 * by the hypervisor's user or another tool (QMP stop, VBoxManage controlvm pause).
 */
export type PauseReason = 'host-disk-full' | 'host-disk-error' | 'paused';

export interface DriverInfo {
  /** e.g. "kvm", "tcg", "hvf", "VT-x". */
  accelerator?: string;
  /** Hypervisor process id, where there is one. */
  pid?: number;
  /** Hypervisor version string. */
  version?: string;
  /** The file system the shares travel on: the running VM's, else what the next start would use. */
  shareFs?: ShareFs;
}

/** The file systems a driver serves shares with. */
export type ShareFs = '9p' | 'virtiofs' | 'vboxsf';

/**
 * What a machine's agent watches to notice that its VM is gone (killed, crashed,
 * powered off from inside) without `skiff stop`. Plain data: it travels in the
 * agent's spec file.
 */
export type VmWatch =
  | {
      kind: 'process';
      /** Names the hypervisor in messages ("QEMU"). */
      label: string;
      pid: number;
      /** processStartTime(pid) when the VM started: a reused pid is not the VM. */
      startTime: string;
      /** The process's pid file: leftovers are removed only while it still names this pid. */
      pidFile: string;
      /** What a dead run leaves behind (pid file, monitor socket, run state), removed once it is gone. */
      leftovers: string[];
    }
  | {
      kind: 'virtualbox';
      vboxManage: string;
      vmName: string;
      uuid: string;
    };

export interface StartHooks {
  /** A one-time notice for the user (e.g. "KVM unusable: running under TCG, boots will be slower"). */
  notice?(message: string): void;
  /**
   * The guest's SSH endpoint as soon as it is known, before the guest runs (a
   * resume): an agent started now is connected the moment the guest answers,
   * instead of starting only then. Called again if the endpoint changes.
   * shareFs: what the guest's shares will be mounted with, where the driver
   * chooses (QEMU); the agent mounts them once connected.
   */
  sshEndpoint?(ssh: SshEndpoint, shareFs?: ShareFs): void;
}

/**
 * One hypervisor behind one interface: Machine never branches on which it has.
 * Every method is idempotent where it can be (start on running, stop on stopped,
 * remove on absent), and every failure is a SkiffError that says what to do.
 */
export interface Driver {
  readonly name: DriverName;
  /**
   * True when start() hands the guest the per-start settings itself (a kernel
   * command line); otherwise the host applies them over SSH once sshd is up.
   */
  readonly passesBootSettings: boolean;
  /** Throws a SkiffError naming what to install when the hypervisor is missing, too old or broken. */
  check(): Promise<void>;
  /**
   * Creates the VM and its data disk of spec.diskGiB, the disk beginning with the
   * seed at spec.paths.seed. On failure leaves nothing half-created behind.
   */
  create(): Promise<void>;
  /**
   * Boots the guest detached; resolves once the hypervisor runs it. A saved state
   * is discarded first: the guest is about to change the disk under it.
   */
  start(hooks?: StartHooks): Promise<SshEndpoint>;
  /**
   * Saves the running VM's memory and devices into the machine's directory and
   * stops it (state() then says 'suspended'). The caller has quiesced the guest
   * (disks flushed, shares unmounted) and stopped the agent. On failure the VM
   * runs on and nothing is saved.
   */
  suspend(): Promise<SavedState>;
  /**
   * Makes sure a running VM can mount its shares, where the driver can lose the
   * devices that carry them (QEMU's virtiofs ones, unplugged by a suspend that
   * was then killed). Called before the shares are mounted.
   */
  sharesReady?(): Promise<void>;
  /** The saved state, if there is one. */
  savedState(): Promise<SavedState | undefined>;
  /**
   * Runs the VM on from its saved state, if that state still belongs to this
   * machine (same hypervisor, hardware, image and disk) and loads whole.
   * Otherwise the state is discarded and the result says why: the caller boots
   * cold. Never leaves a half-restored VM running.
   */
  resume(hooks?: StartHooks): Promise<ResumeResult>;
  /** Throws the saved state away, so the next start boots cold; a no-op without one. */
  discardSavedState(): Promise<void>;
  /** ACPI power button, wait up to timeoutMs for power-off, then force. `force` skips the wait. */
  stop(opts?: { force?: boolean; timeoutMs?: number }): Promise<void>;
  state(): Promise<VmState>;
  /** Where the guest's sshd is reachable on the host (127.0.0.1), while running. */
  sshEndpoint(): Promise<SshEndpoint | undefined>;
  info(): Promise<DriverInfo>;
  /** Points the (stopped) VM at another boot image; the data disk stays. */
  setImage(isoPath: string): Promise<void>;
  /** What identifies the running VM for its agent's liveness watch; undefined when it is not running. */
  watch(): Promise<VmWatch | undefined>;
  /** Stops if needed and deletes the VM and every file the driver made. */
  remove(): Promise<void>;
  /** Where the agent adds and removes UDP forwards while the VM runs; undefined when it cannot. */
  udpForwarding(): UdpForwarding | undefined;
  /** How to ask why the VM is paused and to resume it (drivers/pause.ts); undefined before the hypervisor is found. */
  pauseControl(): PauseControl | undefined;
}
