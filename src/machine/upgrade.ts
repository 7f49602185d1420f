import type { ResolvedImage } from '../image/store.js';
import { saveMachineConfig, vmConfig, type VmConfig } from './config.js';
import { Machine } from './machine.js';
import { stopLocked } from './stop.js';

export interface UpgradeResult {
  changed: boolean;
  from: string;
  to: string;
  wasRunning: boolean;
}

/**
 * Points the machine at a new guest image. Everything that must survive lives on
 * the data disk, which is not touched; the machine is stopped cleanly for the swap
 * and the caller restarts it if it was running.
 */
export async function upgradeMachine(m: Machine, image: ResolvedImage): Promise<{ result: UpgradeResult; machine: Machine }> {
  const vm = vmConfig(m.config, 'upgrade');
  const from = vm.image.sha256;
  if (image.sha256 === from) {
    return { result: { changed: false, from, to: from, wasRunning: false }, machine: m };
  }
  const config: VmConfig = { ...vm, image: { source: image.source, sha256: image.sha256, path: image.path } };
  // One lock for the stop and the swap: a `start` slipping in between would find the
  // machine running on the old image and make setImage fail.
  const wasRunning = await m.lock(async () => {
    const r = await stopLocked(m);
    await m.driver.setImage(image.path);
    await saveMachineConfig(m.paths.config, config);
    return r.wasRunning;
  });
  const machine = await Machine.fromConfig(m.home, m.paths, config);
  return { result: { changed: true, from, to: image.sha256, wasRunning }, machine };
}
