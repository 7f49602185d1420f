import { obj } from '../ports/published.js';

/**
 * The guest paths a container bind-mounts, from its inspect document
 * (`Mounts[].Type == "bind"`). Volumes live on the guest's own disk, where
 * inotify works: they need no help.
 */
export function bindSources(inspect: unknown): string[] {
  const mounts = obj(inspect)?.Mounts;
  if (!Array.isArray(mounts)) return [];
  const out: string[] = [];
  for (const m of mounts) {
    const mount = obj(m);
    if (mount?.Type === 'bind' && typeof mount.Source === 'string' && mount.Source.startsWith('/')) out.push(mount.Source);
  }
  return out;
}
