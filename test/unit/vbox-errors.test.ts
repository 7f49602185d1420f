import { describe, expect, it } from 'vitest';
import { classify, firstErrorLine, toSkiffError, VBoxManageFailure } from '../../src/drivers/virtualbox/errors.js';
import { atLeast, parseVersion, requireSupported } from '../../src/drivers/virtualbox/version.js';
import { ExitCode, SkiffError } from '../../src/errors.js';

// stderr as VBoxManage prints it (message, Details, Context lines).
const NOT_FOUND = `VBoxManage: error: Could not find a registered machine named 'skiff-dev'
VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component VirtualBoxWrap, interface IVirtualBox, callee nsISupports
VBoxManage: error: Context: "FindMachine(Bstr(VMNameOrUuid).raw(), machine.asOutParam())" at line 2719 of file VBoxManageInfo.cpp
`;
const LOCKED = `VBoxManage: error: The machine 'skiff-dev' is already locked for a session (or being unlocked)
VBoxManage: error: Details: code VBOX_E_INVALID_OBJECT_STATE (0x80bb0007), component MachineWrap, interface IMachine, callee nsISupports
VBoxManage: error: Context: "LockMachine(a->session, LockType_Write)" at line 492 of file VBoxManageModifyVM.cpp
`;
const EXISTS = `VBoxManage: error: Machine settings file '/home/ann/VirtualBox VMs/skiff-dev/skiff-dev.vbox' already exists
VBoxManage: error: Details: code VBOX_E_FILE_ERROR (0x80bb0004), component MachineWrap, interface IMachine, callee nsISupports
`;
const SYNTAX = `VBoxManage: error: Unknown option: --audio-driver

Usage:
VBoxManage modifyvm <uuid|vmname> ...
`;
const KERNEL = `VBoxManage: error: The virtual machine 'skiff-dev' has terminated unexpectedly during startup with exit code 1 (0x1)
VBoxManage: error: Details: code NS_ERROR_FAILURE (0x80004005), component MachineWrap, interface IMachine
Kernel driver not installed (rc=-1908) VERR_VM_DRIVER_NOT_INSTALLED
`;
const VTX = `VBoxManage: error: VT-x is not available (VERR_VMX_NO_VMX)
VBoxManage: error: Details: code NS_ERROR_FAILURE (0x80004005), component ConsoleWrap, interface IConsole
`;
// DrvNAT.cpp's VMSetError text (VirtualBox 6.1, 7.0), as startvm prints a power-up failure.
const PORT = `VBoxManage: error: NAT#0: configuration error: failed to set up redirection of 2222 to :22. Probably a conflict with existing services or other rules (VERR_NAT_REDIR_SETUP).
VBoxManage: error: Details: code NS_ERROR_FAILURE (0x80004005), component ConsoleWrap, interface IConsole
`;
// kubernetes/minikube#4913 (VBoxManage startvm with KVM loaded).
const VMX_ROOT = `VBoxManage: error: VT-x is being used by another hypervisor (VERR_VMX_IN_VMX_ROOT_MODE).
VBoxManage: error: VirtualBox can't operate in VMX root mode. Please disable the KVM kernel extension, recompile your kernel and reboot (VERR_VMX_IN_VMX_ROOT_MODE)
VBoxManage: error: Details: code NS_ERROR_FAILURE (0x80004005), component ConsoleWrap, interface IConsole
`;
// VirtualBox/virtualbox#81 (7.1.x on Linux 6.14).
const SVM_IN_USE = `VBoxManage: error: VirtualBox can't enable the AMD-V extension. Please disable the KVM kernel extension, recompile your kernel and reboot (VERR_SVM_IN_USE).
VBoxManage: error: Details: code NS_ERROR_FAILURE (0x80004005), component ConsoleWrap, interface IConsole
`;
// hashicorp/packer#12008: startvm while another session holds the VM.
const LAUNCH_LOCKED = `VBoxManage: error: The machine 'skiff-dev' is already locked by a session (or being locked or unlocked)
VBoxManage: error: Details: code VBOX_E_INVALID_OBJECT_STATE (0x80bb0007), component MachineWrap, interface IMachine, callee nsISupports
VBoxManage: error: Context: "LaunchVMProcess(a->session, sessionType.raw(), ComSafeArrayAsInParam(aBstrEnv), progress.asOutParam())" at line 727 of file VBoxManageMisc.cpp
`;
// boot2docker/boot2docker-cli#292 and docker/machine#1523: a setting changed on a saved VM.
const NOT_MUTABLE = `VBoxManage: error: The machine is not mutable (state is Saved)
VBoxManage: error: Details: code VBOX_E_INVALID_VM_STATE (0x80bb0002), component SessionMachine, interface IMachine, callee nsISupports
VBoxManage: error: Context: "COMSETTER(CableConnected)(ValueUnion.f)" at line 1480 of file VBoxManageModifyVM.cpp
`;

describe('classify', () => {
  it.each([
    [NOT_FOUND, 'not-found'],
    [LOCKED, 'locked'],
    [EXISTS, 'exists'],
    [SYNTAX, 'syntax'],
    [KERNEL, 'kernel-driver'],
    [VTX, 'no-hw-virt'],
    [PORT, 'port-in-use'],
    [VMX_ROOT, 'hv-in-use'],
    [SVM_IN_USE, 'hv-in-use'],
    [LAUNCH_LOCKED, 'locked'],
    [NOT_MUTABLE, 'saved'],
    [NOT_MUTABLE.replace('state is Saved', 'state is AbortedSaved'), 'saved'],
    ["VBoxManage: error: Machine 'skiff-dev' is not currently running\n", 'not-running'],
    ['VBoxManage: error: something nobody expected\n', 'other'],
  ])('%#', (stderr, kind) => {
    expect(classify(stderr)).toBe(kind);
  });
});

describe('firstErrorLine', () => {
  it('takes the message, not the Details/Context lines, without the prefix', () => {
    expect(firstErrorLine(NOT_FOUND)).toBe("Could not find a registered machine named 'skiff-dev'");
    expect(firstErrorLine('VBoxManage.exe: error: Details: code X\nVBoxManage.exe: error: boom\n')).toBe('boom');
    expect(firstErrorLine('plain text\n')).toBe('plain text');
    expect(firstErrorLine('')).toBe('no error output');
  });
});

describe('toSkiffError', () => {
  const fail = (stderr: string) => toSkiffError(new VBoxManageFailure(['modifyvm', 'skiff-dev'], 1, stderr), 'skiff-dev');

  it('maps each kind to a one-line message with a hint and the right exit code', () => {
    const cases: Array<[string, string, number]> = [
      [NOT_FOUND, 'vbox-vm-not-found', ExitCode.notFound],
      [LOCKED, 'vbox-locked', ExitCode.conflict],
      [EXISTS, 'vbox-exists', ExitCode.conflict],
      [SYNTAX, 'vbox-rejected', ExitCode.failure],
      [KERNEL, 'vbox-kernel-driver', ExitCode.environment],
      [VTX, 'vbox-no-hw-virt', ExitCode.environment],
      [PORT, 'vbox-port-in-use', ExitCode.conflict],
      [VMX_ROOT, 'vbox-hv-in-use', ExitCode.environment],
      [SVM_IN_USE, 'vbox-hv-in-use', ExitCode.environment],
      [LAUNCH_LOCKED, 'vbox-locked', ExitCode.conflict],
      [NOT_MUTABLE, 'vbox-saved', ExitCode.conflict],
      ['VBoxManage: error: odd\n', 'vbox-failed', ExitCode.failure],
    ];
    for (const [stderr, code, exit] of cases) {
      const e = fail(stderr);
      expect(e).toBeInstanceOf(SkiffError);
      expect(e.code).toBe(code);
      expect(e.exitCode).toBe(exit);
      expect(e.message).not.toContain('\n');
      expect(e.message).toContain('skiff-dev');
      expect(e.hint).toBeTruthy();
    }
  });

  it('keeps VirtualBox words in the message where they help', () => {
    expect(fail(EXISTS).message).toContain("skiff-dev.vbox' already exists");
    expect(fail(SYNTAX).message).toContain('Unknown option: --audio-driver');
    expect(fail(VMX_ROOT).message).toContain('VT-x is being used by another hypervisor');
    expect(fail(VMX_ROOT).hint).toMatch(/modprobe -r kvm_intel/);
    expect(fail(SVM_IN_USE).hint).toMatch(/Hyper-V/);
  });
});

describe('version', () => {
  it('parses release, distro and warning-prefixed output', () => {
    expect(parseVersion('7.0.20r163906\n')).toMatchObject({ major: 7, minor: 0, patch: 20, text: '7.0.20r163906' });
    expect(parseVersion('6.1.50_Ubuntur161033\n')).toMatchObject({ major: 6, minor: 1, patch: 50 });
    const warned = 'WARNING: The vboxdrv kernel module is not loaded. Either there is no module\n         available for the current kernel (6.1.0) or it failed to\n         load.\n\n7.1.4r165100\n';
    expect(parseVersion(warned)).toMatchObject({ major: 7, minor: 1, patch: 4 });
    expect(parseVersion('garbage')).toBeUndefined();
  });

  it('requires 6.1 or newer', () => {
    expect(atLeast(parseVersion('6.1.0r1')!, 6, 1)).toBe(true);
    expect(atLeast(parseVersion('7.0.0r1')!, 6, 1)).toBe(true);
    expect(() => requireSupported(parseVersion('6.1.50r161033')!)).not.toThrow();
    expect(() => requireSupported(parseVersion('6.0.24r139119')!)).toThrow(/too old/);
    expect(() => requireSupported(parseVersion('5.2.44r139111')!)).toThrow(SkiffError);
  });
});
