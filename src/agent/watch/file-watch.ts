import { readFileSync } from 'node:fs';
import type { SshConnection } from '../../ssh/connect.js';
import { Batcher } from './batcher.js';
import { bindSources } from './binds.js';
import { hostRootsForBind, isWithin, outermost, type WatchedShare } from './paths.js';
import { Replayer } from './replay.js';
import { TreeWatcher, type WatchBudget } from './tree.js';

/** What the agent is told to watch (agent spec `watch`): the writable shares, and what never to watch. */
export interface WatchSpec {
  shares: WatchedShare[];
  /** skiff's own folders (machine disks, logs): they change all the time and no container needs them. */
  exclude: string[];
  /** Watched folders at most; default: half of fs.inotify.max_user_watches, which every program of this user shares. */
  maxWatches?: number;
}

/** One share's watching, for the state file and `skiff status`. */
export interface ShareWatchStatus {
  hostPath: string;
  /** Folders of this share that running containers bind-mount, each watched with everything under it. */
  folders: string[];
  directories: number;
  /** Why some folders are not watched (a watch limit), if any are not. */
  limited?: string;
}

export interface FileWatchStatus {
  shares: ShareWatchStatus[];
  /** Changes replayed in the guest since the agent started. */
  replayed: number;
}

/** Half of the kernel's per-user limit, so skiff leaves room for the user's own tools. */
export function defaultWatchLimit(): number {
  try {
    const max = Number(readFileSync('/proc/sys/fs/inotify/max_user_watches', 'utf8').trim());
    if (Number.isFinite(max) && max > 0) return Math.max(1, Math.floor(max / 2));
  } catch {
    // not Linux: the kernel says no itself (ENOSPC), and that is handled the same way
  }
  return 8192;
}

/**
 * Host edits that reach file watchers in containers. inotify does not cross 9p
 * or vboxsf, so the agent watches, on the host, the shared folders that running
 * containers bind-mount (not whole shares: the default share is the home
 * directory, and a container uses a project folder of it), and replays each
 * change in the guest (replay.ts). Which folders follows the engine's
 * container events, through PortWatcher's observer.
 */
export class FileWatch {
  private readonly binds = new Map<string, string[]>();
  private readonly trees = new Map<string, TreeWatcher>();
  private readonly budget: WatchBudget;
  private readonly batcher: Batcher;
  private readonly replayer: Replayer;
  private stopped = false;

  constructor(
    private readonly spec: WatchSpec,
    connection: () => SshConnection | undefined,
    private readonly log: (text: string) => void,
    private readonly changed: () => void,
  ) {
    this.budget = { limit: spec.maxWatches ?? defaultWatchLimit(), used: 0 };
    this.replayer = new Replayer(connection, () => spec.shares, log);
    this.batcher = new Batcher((batch) => this.replayer.replay(batch));
  }

  /** A container started (or was found running): watch what it bind-mounts from the shares. */
  containerStarted(id: string, inspect: unknown): void {
    const roots = bindSources(inspect).flatMap((src) => hostRootsForBind(this.spec.shares, src));
    if (roots.length === 0 && !this.binds.has(id)) return;
    this.binds.set(id, roots);
    this.apply();
  }

  containerStopped(id: string): void {
    if (this.binds.delete(id)) this.apply();
  }

  /** The full list of running containers: anything not in it is no longer watched for. */
  synced(running: ReadonlyMap<string, unknown>): void {
    this.binds.clear();
    for (const [id, inspect] of running) {
      const roots = bindSources(inspect).flatMap((src) => hostRootsForBind(this.spec.shares, src));
      if (roots.length > 0) this.binds.set(id, roots);
    }
    this.apply();
  }

  /** Resolves once the folders wanted now are all watched (tests and the bench wait on it). */
  async settled(): Promise<void> {
    await this.applying;
  }

  status(): FileWatchStatus {
    return {
      shares: this.spec.shares.map((s) => {
        const mine = [...this.trees.values()].filter((t) => isWithin(s.hostPath, t.root));
        return {
          hostPath: s.hostPath,
          folders: mine.map((t) => t.root),
          directories: mine.reduce((n, t) => n + t.directories, 0),
          ...(this.budget.exhausted !== undefined && mine.length > 0 ? { limited: this.budget.exhausted } : {}),
        };
      }),
      replayed: this.replayer.count,
    };
  }

  stop(): void {
    this.stopped = true;
    this.batcher.stop();
    for (const t of this.trees.values()) t.close();
    this.trees.clear();
    this.replayer.close();
  }

  private applying: Promise<void> = Promise.resolve();

  /** Watches exactly the outermost of the folders the containers want; one change at a time. */
  private apply(): void {
    this.applying = this.applying.then(async () => {
      if (this.stopped) return;
      const wanted = outermost([...this.binds.values()].flat());
      for (const [root, tree] of this.trees) {
        if (wanted.includes(root)) continue;
        tree.close();
        this.trees.delete(root);
        this.log(`file watch: stopped watching ${root}`);
      }
      // A budget exhausted by folders no longer watched may be enough now.
      if (this.budget.used < this.budget.limit) delete this.budget.exhausted;
      for (const root of wanted) {
        if (this.trees.has(root) || this.stopped) continue;
        const tree = new TreeWatcher(root, {
          budget: this.budget,
          exclude: this.spec.exclude,
          onChange: (p) => this.batcher.add(p),
          log: this.log,
        });
        this.trees.set(root, tree);
        const t0 = Date.now();
        await tree.start();
        this.log(`file watch: watching ${root} (${tree.directories} folders, ${Date.now() - t0} ms)`);
      }
      this.changed();
    });
  }
}
