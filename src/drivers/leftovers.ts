import type { MachinePaths } from '../layout/paths.js';
import { killLeftoverQemu } from './qemu/leftovers.js';

/**
 * Ends whatever a machine's VM left running when its config (and so its driver)
 * is unknown: each driver is asked to clean up its own. VirtualBox has nothing to
 * do here: its VM lives in VirtualBox's registry, which only a loaded machine's
 * driver touches. True when a VM was ended.
 */
export async function endLeftoverVm(paths: Pick<MachinePaths, 'runDir'>): Promise<boolean> {
  return killLeftoverQemu(paths);
}
