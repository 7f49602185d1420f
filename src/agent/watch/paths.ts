import path from 'node:path';

/** A share as the watcher sees it: where its files are on the host and in the guest. */
export interface WatchedShare {
  hostPath: string;
  guestPath: string;
}

/** `child` is `parent` or below it (both absolute, normalised); a sibling like /a/bc is not below /a/b. */
export function isWithin(parent: string, child: string): boolean {
  if (parent === child) return true;
  const base = parent.endsWith('/') ? parent : parent + '/';
  return child.startsWith(base);
}

/**
 * The guest path of host file `hostFile`, through the share that holds it (the
 * deepest one, if shares nest), or undefined: outside every share, or a name the
 * guest's line-by-line reader cannot carry (a newline in it).
 */
export function guestPathOf(shares: readonly WatchedShare[], hostFile: string): string | undefined {
  const p = path.resolve(hostFile);
  if (p.includes('\n')) return undefined;
  let best: WatchedShare | undefined;
  for (const s of shares) {
    if (isWithin(s.hostPath, p) && (!best || s.hostPath.length > best.hostPath.length)) best = s;
  }
  if (!best) return undefined;
  const rel = path.relative(best.hostPath, p);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return rel === '' ? best.guestPath : path.posix.join(best.guestPath, rel);
}

/**
 * The host folders to watch for a container that bind-mounts guest path `source`:
 * the part of a share it sees (source inside a share), or whole shares (source
 * above them, such as `-v /home:/h` over a share at /home/me).
 */
export function hostRootsForBind(shares: readonly WatchedShare[], source: string): string[] {
  const src = path.posix.resolve(source);
  const roots: string[] = [];
  for (const s of shares) {
    if (isWithin(s.guestPath, src)) roots.push(path.join(s.hostPath, path.posix.relative(s.guestPath, src)));
    else if (isWithin(src, s.guestPath)) roots.push(s.hostPath);
  }
  return roots;
}

/** The roots with every one that lies inside another dropped: each directory is watched once. */
export function outermost(roots: Iterable<string>): string[] {
  const sorted = [...new Set(roots)].sort((a, b) => a.length - b.length);
  const kept: string[] = [];
  for (const r of sorted) if (!kept.some((k) => isWithin(k, r))) kept.push(r);
  return kept.sort();
}
