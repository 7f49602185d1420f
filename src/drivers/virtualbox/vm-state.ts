import type { VmState } from '../driver.js';

/**
 * VMState values from VBoxManageInfo.cpp's machineStateToName(short form),
 * folded to what skiff acts on. "saved" (controlvm savestate) and
 * "aborted-saved" (the VM process ended while a saved state existed) are
 * 'suspended': nothing runs, and startvm would resume the saved state rather
 * than boot, so skiff must decide (resume, or discardstate and boot cold).
 */
const STATES: Record<string, VmState> = {
  poweroff: 'stopped',
  aborted: 'stopped',
  saved: 'suspended',
  'aborted-saved': 'suspended',
  teleported: 'stopped',
  settingup: 'stopped',
  snapshotting: 'stopped',
  restoringsnapshot: 'stopped',
  deletingsnapshot: 'stopped',
  running: 'running',
  livesnapshotting: 'running',
  onlinesnapshotting: 'running',
  teleporting: 'running',
  deletingsnapshotlive: 'running',
  paused: 'paused',
  teleportingpausedvm: 'paused',
  deletingsnapshotlivepaused: 'paused',
  starting: 'starting',
  restoring: 'starting',
  teleportingin: 'starting',
  stopping: 'stopping',
  saving: 'stopping',
  gurumeditation: 'error',
};

export function foldVmState(vmState: string | undefined): VmState {
  if (vmState === undefined) return 'error';
  return STATES[vmState] ?? 'error';
}
