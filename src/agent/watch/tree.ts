import { watch, type FSWatcher } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../../errors.js';
import { isWithin } from './paths.js';

/**
 * Folders never watched. Their contents change by the thousand (installs, git's
 * objects, caches) and the watchers people run in containers ignore them
 * anyway (nodemon, vite and webpack's defaults); on a home directory they are
 * most of the inotify watches a full watch would take.
 */
export const SKIPPED_NAMES: ReadonlySet<string> = new Set(['node_modules', '.git', '.hg', '.svn', '.cache', '.npm', '.yarn', '.pnpm-store', '__pycache__', '.venv', '.tox']);

/** How many inotify watches all trees together may take. Shared, so one big tree cannot starve the count. */
export interface WatchBudget {
  limit: number;
  used: number;
  /** Set once the limit (or the kernel's) was reached: why some folders are not watched. */
  exhausted?: string;
}

export interface TreeOptions {
  budget: WatchBudget;
  /** Folders (and everything under them) never watched: skiff's own state, whose files change all the time. */
  exclude: readonly string[];
  /** Folder names never watched; default SKIPPED_NAMES (the bench compares with none). */
  skipNames?: ReadonlySet<string>;
  /** A path in the tree changed (file or folder: created, written, attributes, renamed away). */
  onChange(hostPath: string): void;
  /** One line for the agent log. */
  log(text: string): void;
}

/**
 * Watches one host folder and every folder under it, one inotify watch per folder
 * (Node 18 has no recursive fs.watch on Linux). Symlinks are never followed, so
 * nothing outside the tree is watched. Folders created later are added as they
 * appear; folders removed are dropped.
 */
export class TreeWatcher {
  private readonly dirs = new Map<string, FSWatcher>();
  private closed = false;

  constructor(
    readonly root: string,
    private readonly opts: TreeOptions,
  ) {}

  get directories(): number {
    return this.dirs.size;
  }

  /** Resolves once every folder present now is watched (or skipped). */
  start(): Promise<void> {
    return this.addTree(this.root, false);
  }

  close(): void {
    this.closed = true;
    for (const w of this.dirs.values()) w.close();
    this.opts.budget.used -= this.dirs.size;
    this.dirs.clear();
  }

  private skipped(dir: string): boolean {
    return (this.opts.skipNames ?? SKIPPED_NAMES).has(path.basename(dir)) || this.opts.exclude.some((e) => isWithin(e, dir));
  }

  /**
   * Breadth first, iteratively: a deep tree cannot overflow the stack, and each
   * watch is armed before its listing. A folder that appeared later (`announce`)
   * may have got entries before its watch was armed: they are reported as changed.
   */
  private async addTree(top: string, announce: boolean): Promise<void> {
    const queue = [top];
    while (queue.length > 0 && !this.closed) {
      const dir = queue.shift()!;
      if (this.dirs.has(dir) || (dir !== this.root && this.skipped(dir)) || !this.watchDir(dir)) continue;
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        continue; // gone or unreadable meanwhile: nothing to watch below it
      }
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (announce) this.opts.onChange(p);
        if (e.isDirectory()) queue.push(p);
      }
    }
  }

  private watchDir(dir: string): boolean {
    const budget = this.opts.budget;
    if (budget.used >= budget.limit) {
      this.exhausted(`the limit of ${budget.limit} watched folders was reached`);
      return false;
    }
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: false }, (event, name) => this.event(dir, event, name));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOSPC is the kernel's fs.inotify.max_user_watches, shared with every other program of this user.
      if (code === 'ENOSPC') this.exhausted('the kernel refused more inotify watches (fs.inotify.max_user_watches)');
      else if (code !== 'ENOENT' && code !== 'EACCES' && code !== 'ENOTDIR') this.opts.log(`file watch: cannot watch ${dir}: ${errorMessage(e)}`);
      return false;
    }
    // A watched folder that is removed ends its watch with an error on some kernels: drop it.
    w.on('error', () => this.dropTree(dir));
    this.dirs.set(dir, w);
    budget.used++;
    return true;
  }

  private exhausted(why: string): void {
    const budget = this.opts.budget;
    if (budget.exhausted !== undefined) return;
    budget.exhausted = why;
    this.opts.log(`file watch: ${why}; ${budget.used} folders are watched, the rest are not (edits there do not reach containers)`);
  }

  private event(dir: string, event: string, name: string | Buffer | null): void {
    if (this.closed || name === null) return;
    const full = path.join(dir, name.toString());
    this.opts.onChange(full);
    // 'rename' is a name appearing or going: a new folder is watched, a removed one dropped.
    if (event === 'rename') void this.renamed(full);
  }

  private async renamed(full: string): Promise<void> {
    let isDir = false;
    try {
      isDir = (await lstat(full)).isDirectory();
    } catch {
      // gone
    }
    if (this.closed) return;
    if (isDir) {
      if (this.dirs.has(full)) return;
      await this.addTree(full, true);
    } else this.dropTree(full);
  }

  private dropTree(top: string): void {
    for (const [dir, w] of this.dirs) {
      if (!isWithin(top, dir)) continue;
      w.close();
      this.dirs.delete(dir);
      this.opts.budget.used--;
    }
  }
}
