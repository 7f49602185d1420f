import type { FileWatchStatus } from '../agent/watch/file-watch.js';
import type { MachineConfig } from './config.js';

/**
 * Whether host edits in a share reach file watchers in containers. `on` while an
 * agent runs and watches it, with the folders running containers bind-mount;
 * `configured` when it is on in the config but no agent reports it (stopped, or
 * started before the setting changed); `off` by config; `read-only`: a read-only
 * mount cannot take the replayed mtime, so it is never watched.
 */
export interface ShareWatch {
  state: 'on' | 'configured' | 'off' | 'read-only';
  folders?: string[];
  directories?: number;
  limited?: string;
}

export function shareWatchStates(config: Pick<MachineConfig, 'shares' | 'watch'>, report: FileWatchStatus | undefined): ShareWatch[] {
  return config.shares.map((s) => {
    if (s.readOnly) return { state: 'read-only' };
    if (!config.watch) return { state: 'off' };
    const r = report?.shares.find((x) => x.hostPath === s.hostPath);
    if (!r) return { state: 'configured' };
    return { state: 'on', folders: r.folders, directories: r.directories, ...(r.limited !== undefined ? { limited: r.limited } : {}) };
  });
}

/** One phrase for `skiff status`. */
export function describeShareWatch(w: ShareWatch): string {
  switch (w.state) {
    case 'read-only':
      return 'watch: no (read-only)';
    case 'off':
      return 'watch: off';
    case 'configured':
      return 'watch: on at start';
    case 'on': {
      const n = w.folders?.length ?? 0;
      const used = n === 0 ? 'no folder bind-mounted by a container' : `${n} folder${n === 1 ? '' : 's'} bind-mounted, ${w.directories ?? 0} directories watched`;
      return `watch: on (${used}${w.limited !== undefined ? `; LIMITED: ${w.limited}` : ''})`;
    }
  }
}
