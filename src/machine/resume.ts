import path from 'node:path';
import { agentStatus } from '../agent/control.js';
import type { VmState } from '../drivers/driver.js';
import { hostFreeBytes, mib, pauseCause, RESUME_MIN_FREE_BYTES, resumeVm } from '../drivers/pause.js';
import { ExitCode, SkiffError } from '../errors.js';
import type { Progress } from '../progress.js';
import { waitUntil } from '../util/wait.js';
import { serving } from './readiness.js';
import type { Machine } from './machine.js';

/** How long a resumed VM's agent gets to reconnect by itself before `start` replaces it. */
const RECONNECT_MS = 8_000;

/**
 * `skiff start` on a paused machine lets it go on where it stopped: the guest's
 * containers keep running. A VM paused on a full host disk is resumed only once
 * there is space, or it would pause again on its first write. Returns the state
 * after, so start goes on as for a running machine.
 */
export async function resumePaused(m: Machine, ui: Progress): Promise<VmState> {
  const ctl = m.driver.pauseControl();
  if (!ctl) return m.driver.state();
  const cause = await pauseCause(ctl);
  if (cause?.reason === 'host-disk-full') {
    const free = await hostFreeBytes(ctl.dataDisk);
    if (free < RESUME_MIN_FREE_BYTES) {
      throw new SkiffError('host-disk-full', `machine "${m.name}" is paused: the host disk holding ${path.dirname(ctl.dataDisk)} is full (${mib(free)} free)`, {
        hint: `free at least ${mib(RESUME_MIN_FREE_BYTES)} there; the VM then goes on by itself, data intact`,
        exitCode: ExitCode.environment,
      });
    }
  }
  ui.stage('resume', 'resuming the paused VM');
  await resumeVm(ctl);
  // The agent's link notices the guest again within its probe interval: no need to
  // restart it. (None runs after a suspend killed midway: start launches one.)
  if ((await agentStatus(m.paths)).state !== 'stopped') await waitUntil(() => serving(m), { timeoutMs: RECONNECT_MS, intervalMs: 200 });
  return m.driver.state();
}
