import type { WatchSpec } from '../agent/watch/file-watch.js';
import type { Machine } from './machine.js';

/**
 * What the agent watches for file watchers in containers: the writable shares
 * (a read-only mount cannot take the replayed mtime), never skiff's own home
 * and runtime folder, whose disks and logs change all the time (and the agent
 * log would otherwise feed its own replays). Undefined when watching is off.
 */
export function watchSpecFor(m: Machine): WatchSpec | undefined {
  if (!m.config.watch) return undefined;
  const shares = m.config.shares.filter((s) => !s.readOnly).map((s) => ({ hostPath: s.hostPath, guestPath: s.guestPath }));
  if (shares.length === 0) return undefined;
  return { shares, exclude: [m.paths.home, m.paths.runDir] };
}
