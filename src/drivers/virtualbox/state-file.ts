import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, SkiffError } from '../../errors.js';
import { writeFileAtomic } from '../../util/atomic-file.js';

/**
 * What the driver keeps in driverDir/state.json: the VirtualBox VM it created
 * (name and UUID, so a VM of the same name made by someone else is never taken
 * for ours) and the host port of the SSH forward.
 */
export interface VBoxState {
  vmName: string;
  uuid: string;
  sshPort: number;
}

export function stateFile(driverDir: string): string {
  return path.join(driverDir, 'state.json');
}

export async function readState(driverDir: string): Promise<VBoxState | undefined> {
  let text: string;
  try {
    text = await readFile(stateFile(driverDir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let v: Partial<VBoxState> | undefined;
  try {
    v = JSON.parse(text) as Partial<VBoxState>;
  } catch {
    v = undefined;
  }
  if (!v || typeof v.vmName !== 'string' || typeof v.uuid !== 'string' || typeof v.sshPort !== 'number') {
    throw new SkiffError('vbox-state-corrupt', `${stateFile(driverDir)} is not a valid VirtualBox driver state`, {
      hint: 'if no VirtualBox VM of this machine exists any more, delete that file; otherwise run `skiff delete` and `skiff init`',
      exitCode: ExitCode.failure,
    });
  }
  return { vmName: v.vmName, uuid: v.uuid, sshPort: v.sshPort };
}

export async function writeState(driverDir: string, s: VBoxState): Promise<void> {
  await writeFileAtomic(stateFile(driverDir), JSON.stringify(s, null, 2) + '\n');
}
