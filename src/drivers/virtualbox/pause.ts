import type { PauseReason } from '../driver.js';
import { VBoxManage } from './vboxmanage.js';

/**
 * Whether this run's VBox.log says the VM was suspended for a full host disk
 * since it last ran. DrvVD.cpp raises the runtime error DrvVD_DISKFULL with
 * VMSETRTERR_FLAGS_SUSPEND ("VD#0: Host disk full", then ConsoleImpl's "Console:
 * VM runtime error: fatal=false, errorID=DrvVD_DISKFULL ..."); VMM logs every
 * state change as "Changing the VM state from 'A' to 'B'". An error followed by
 * a return to RUNNING is history, not the reason for this pause.
 */
export function diskFullInLog(log: string): boolean {
  const full = log.lastIndexOf('errorID=DrvVD_DISKFULL');
  return full >= 0 && full > log.lastIndexOf("to 'RUNNING'");
}

export async function vboxPauseReason(bin: string, vm: string): Promise<PauseReason | undefined> {
  const vbox = new VBoxManage(bin);
  const info = await vbox.run(['showvminfo', vm, '--machinereadable'], { timeoutMs: 30_000 });
  if (/^VMState="([^"]*)"/m.exec(info)?.[1] !== 'paused') return undefined;
  const log = await vbox.run(['showvminfo', vm, '--log', '0'], { timeoutMs: 30_000 }).catch(() => '');
  return diskFullInLog(log) ? 'host-disk-full' : 'paused';
}

export async function vboxResume(bin: string, vm: string): Promise<void> {
  await new VBoxManage(bin).run(['controlvm', vm, 'resume'], { timeoutMs: 30_000 });
}
