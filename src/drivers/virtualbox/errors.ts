import { ExitCode, SkiffError } from '../../errors.js';

/** A VBoxManage run that exited non-zero; `stderr` is what the user would need to see. */
export class VBoxManageFailure extends Error {
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | undefined,
    readonly stderr: string,
  ) {
    super(`VBoxManage ${args.join(' ')} failed: ${firstErrorLine(stderr)}`);
    this.name = 'VBoxManageFailure';
  }
}

/** The first "VBoxManage: error: ..." line without its prefix, or the first non-empty line. */
export function firstErrorLine(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  const err = lines.find((l) => /^VBoxManage(\.exe)?: error: /i.test(l) && !/: error: (Details|Context):/.test(l));
  const line = err ?? lines[0] ?? 'no error output';
  return line.replace(/^VBoxManage(\.exe)?: error: /i, '');
}

export type FailureKind =
  | 'not-found'
  | 'locked'
  | 'exists'
  | 'port-in-use'
  | 'syntax'
  | 'kernel-driver'
  | 'no-hw-virt'
  | 'hv-in-use'
  | 'not-running'
  | 'saved'
  | 'other';

/**
 * Classifies VBoxManage's stderr by the stable parts of its messages (codes, not
 * prose, where there is one). Every text matched here is VirtualBox's own; the
 * stand-in (test/helpers/fake-vboxmanage/VBoxManage) prints each one and names
 * where it comes from.
 */
export function classify(stderr: string): FailureKind {
  if (/VBOX_E_OBJECT_NOT_FOUND|Could not find a registered machine/.test(stderr)) return 'not-found';
  // "already locked for a session (or being unlocked)" (LockMachine) and
  // "already locked by a session (or being locked or unlocked)" (LaunchVMProcess).
  if (/already locked (for|by) a session|is locked|VBOX_E_INVALID_SESSION_STATE/.test(stderr)) return 'locked';
  // DrvNAT.cpp: the pre-libslirp NAT fails the VM's power-up when it cannot bind a forward.
  if (/VERR_NAT_REDIR_SETUP|failed to set up redirection of \d+ to/.test(stderr)) return 'port-in-use';
  // KVM (Linux >= 6.12 takes VT-x/AMD-V at module load, even with no VM running) or Hyper-V holds it.
  if (/VERR_VMX_IN_VMX_ROOT_MODE|VERR_SVM_IN_USE/.test(stderr)) return 'hv-in-use';
  if (/settings file '.*' already exists|VERR_ALREADY_EXISTS/.test(stderr)) return 'exists';
  if (/Unknown option|Invalid parameter|Syntax error|Missing (the |required )?argument|Invalid argument|Invalid .* argument/i.test(stderr))
    return 'syntax';
  if (/VERR_VM_DRIVER_NOT_INSTALLED|VERR_VM_DRIVER_NOT_ACCESSIBLE|Kernel driver not installed/.test(stderr))
    return 'kernel-driver';
  if (/VERR_VMX_NO_VMX|VERR_SVM_DISABLED|VERR_VMX_MSR_ALL_VMX_DISABLED|VERR_SVM_NO_SVM|VERR_NEM_NOT_AVAILABLE/.test(stderr))
    return 'no-hw-virt';
  // MachineImpl.cpp (i_checkStateDependency): settings of a VM with a saved state cannot change.
  if (/is not mutable \(state is (Aborted)?Saved\)/.test(stderr)) return 'saved';
  if (/is not currently running|VBOX_E_INVALID_VM_STATE/.test(stderr)) return 'not-running';
  return 'other';
}

/** Turns a failure into what the user sees: what went wrong for `vmName`, and what to do. */
export function toSkiffError(f: VBoxManageFailure, vmName: string): SkiffError {
  const detail = firstErrorLine(f.stderr);
  const sub = f.args[0] ?? '';
  const opts = (hint: string, exitCode: number) => ({ hint, exitCode, cause: f });
  switch (classify(f.stderr)) {
    case 'not-found':
      return new SkiffError('vbox-vm-not-found', `VirtualBox has no VM named ${vmName} (${detail})`,
        opts('run `skiff init` to create the machine again', ExitCode.notFound));
    case 'locked':
      return new SkiffError('vbox-locked', `the VirtualBox VM ${vmName} is locked by another session`,
        opts('close its window in the VirtualBox Manager or wait for the other VBoxManage to finish, then retry', ExitCode.conflict));
    case 'exists':
      return new SkiffError('vbox-exists', `VirtualBox files for ${vmName} already exist: ${detail}`,
        opts(`remove the VM ${vmName} in VirtualBox (or its leftover folder), or choose another machine name`, ExitCode.conflict));
    case 'port-in-use':
      return new SkiffError('vbox-port-in-use', `the SSH port forward of ${vmName} could not bind: ${detail}`,
        opts('another program holds the port; retry, skiff picks a free port at each start', ExitCode.conflict));
    case 'hv-in-use':
      return new SkiffError('vbox-hv-in-use', `VirtualBox cannot run ${vmName}: another hypervisor holds VT-x/AMD-V (${detail})`,
        opts('stop the other hypervisor and retry: on Linux `sudo modprobe -r kvm_intel kvm_amd` (since kernel 6.12 KVM holds VT-x even with no VM running, unless loaded with kvm.enable_virt_at_load=0), on Windows turn Hyper-V off; or use --driver qemu', ExitCode.environment));
    case 'syntax':
      return new SkiffError('vbox-rejected', `VBoxManage ${sub} rejected skiff's arguments for ${vmName}: ${detail}`,
        opts('this is a skiff bug or an unsupported VirtualBox version; please report it with `VBoxManage --version`', ExitCode.failure));
    case 'kernel-driver':
      return new SkiffError('vbox-kernel-driver', `VirtualBox cannot run ${vmName}: its kernel driver is not loaded (${detail})`,
        opts('reinstall VirtualBox or run `sudo /sbin/vboxconfig`, then retry', ExitCode.environment));
    case 'no-hw-virt':
      return new SkiffError('vbox-no-hw-virt', `VirtualBox cannot run ${vmName} without hardware virtualization (${detail})`,
        opts('enable VT-x/AMD-V in the firmware settings, or stop other hypervisors (Hyper-V, KVM), or use --driver qemu', ExitCode.environment));
    case 'saved':
      return new SkiffError('vbox-saved', `the VirtualBox VM ${vmName} has a saved state, and VirtualBox does not let its settings change (${detail})`,
        opts('`skiff start` resumes it; `skiff stop --force` discards the saved state', ExitCode.conflict));
    case 'not-running':
      return new SkiffError('vbox-not-running', `the VirtualBox VM ${vmName} is not running`,
        opts('run `skiff start` first', ExitCode.conflict));
    default:
      return new SkiffError('vbox-failed', `VBoxManage ${sub} failed for ${vmName}: ${detail}`,
        opts('see the VirtualBox log (VBoxManage showvminfo --log 0) or retry', ExitCode.failure));
  }
}
