import type { MachinePaths } from '../../layout/paths.js';
import { readPidFile } from '../../util/pid-file.js';
import { processCommandLine } from '../../util/process-alive.js';
import { waitUntil } from '../../util/wait.js';
import { qemuRuntimeFiles } from './state-file.js';
import { stopVirtiofsds } from './virtiofsd.js';

/**
 * Kills this machine's QEMU when nothing else can stop it (its config is gone, so
 * no driver can be built). Only a process whose command line names this machine's
 * QMP socket is ours: a pid file alone may name anyone's reused pid.
 */
export async function killLeftoverQemu(paths: Pick<MachinePaths, 'runDir'>): Promise<boolean> {
  const ended = await killQemu(paths);
  // Its virtiofsds exit with QEMU's connection; any that had none yet would stay.
  await stopVirtiofsds(paths.runDir);
  return ended;
}

async function killQemu(paths: Pick<MachinePaths, 'runDir'>): Promise<boolean> {
  const { pidFile, qmpSocket } = qemuRuntimeFiles(paths.runDir);
  const pid = await readPidFile(pidFile);
  if (pid === undefined) return false;
  const ours = async () => ((await processCommandLine(pid)) ?? '').includes(qmpSocket);
  if (!(await ours())) return false;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return false;
  }
  await waitUntil(async () => !(await ours()), { timeoutMs: 10_000 });
  return true;
}
