import { lstat } from 'node:fs/promises';
import type { ClientChannel } from 'ssh2';
import { errorMessage } from '../../errors.js';
import type { SshConnection } from '../../ssh/connect.js';
import { openExec } from '../../ssh/exec.js';
import { guestPathOf, type WatchedShare } from './paths.js';

/**
 * The guest half: one long-lived shell reading batches. Each file is given the
 * mode it already has: the guest's VFS raises IN_ATTRIB, which watchers in
 * containers bind-mounting the path see (libuv, and so nodemon, webpack and
 * vite, report it as a change), and the host file keeps its contents, mode and
 * mtime; only its ctime moves. Not the mtime, as lima does: the guest's 9p
 * truncates every time it sets to whole seconds (it declares no finer
 * granularity), so `touch -m -r F F` wrote the host a different mtime (measured:
 * .495066414 s became .0).
 *
 * The protocol (replayMessage): "M MODE" starts a group, absolute guest paths
 * follow one a line, an empty line runs one `chmod MODE PATH...` for the group.
 * One process per group, not per file: under TCG a fork costs the guest
 * ~20 ms, and a `stat` + `chmod` per file took 41 s of guest CPU for 1,000
 * files (bench/watch-guest.mjs). A symlink is never touched (it could point out
 * of the share; `[` is a shell builtin); a file gone meanwhile fails alone.
 */
export const GUEST_REPLAY_SCRIPT = [
  'm=; set --',
  'while IFS= read -r l; do',
  '  case $l in',
  '    /*) [ -L "$l" ] || set -- "$@" "$l" ;;',
  "    'M '*) m=${l#M }; set -- ;;",
  '    \'\') [ $# -gt 0 ] && chmod "$m" "$@" 2>/dev/null; set -- ;;',
  '  esac',
  'done',
].join('\n');

/** Paths per chmod: well inside any ARG_MAX, and the shell's "$@" growth stays cheap. */
const GROUP_MAX = 256;

/** The text that replays `items` in the guest (see GUEST_REPLAY_SCRIPT): grouped by mode, in order within a mode. */
export function replayMessage(items: ReadonlyArray<{ guestPath: string; mode: number }>): string {
  const byMode = new Map<string, string[]>();
  for (const it of items) {
    const mode = (it.mode & 0o7777).toString(8);
    const list = byMode.get(mode) ?? [];
    list.push(it.guestPath);
    byMode.set(mode, list);
  }
  let out = '';
  for (const [mode, paths] of byMode) {
    for (let i = 0; i < paths.length; i += GROUP_MAX) out += `M ${mode}\n${paths.slice(i, i + GROUP_MAX).join('\n')}\n\n`;
  }
  return out;
}

/** Forgetting is safe (one more replay of an unchanged file); the bound keeps a huge tree's churn from growing the map for ever. */
const MAX_REMEMBERED = 50_000;

/**
 * Replays batches of changed host paths in the guest. A path is replayed only if
 * its (inode, size, mtime) differs from its last replay: the replay itself
 * changes the host file's ctime and raises a host event, which must not loop.
 * Removed files cannot be replayed this way and are skipped.
 */
export class Replayer {
  private channel: { conn: SshConnection; ch: Promise<ClientChannel> } | undefined;
  private readonly replayed = new Map<string, string>();
  count = 0;

  constructor(
    private readonly connection: () => SshConnection | undefined,
    private readonly shares: () => readonly WatchedShare[],
    private readonly log: (text: string) => void,
  ) {}

  async replay(hostPaths: string[]): Promise<void> {
    const items: Array<{ guestPath: string; mode: number }> = [];
    const keys: Array<[string, string]> = [];
    for (const p of hostPaths) {
      const guest = guestPathOf(this.shares(), p);
      if (guest === undefined) continue;
      let key: string;
      let mode: number;
      try {
        const st = await lstat(p, { bigint: true });
        if (!st.isFile() && !st.isDirectory()) continue;
        key = `${st.ino}:${st.size}:${st.mtimeNs}`;
        mode = Number(st.mode);
      } catch {
        continue; // removed: nothing left to replay the change on
      }
      if (this.replayed.get(p) === key) continue;
      items.push({ guestPath: guest, mode });
      keys.push([p, key]);
    }
    if (items.length === 0) return;
    const conn = this.connection();
    if (!conn) return; // the link is down: the guest sees the files as they are once it is back
    try {
      const ch = await this.channelOn(conn);
      ch.write(replayMessage(items));
    } catch (e) {
      this.log(`file watch: cannot replay ${items.length} change(s) in the guest: ${errorMessage(e)}`);
      return;
    }
    if (this.replayed.size > MAX_REMEMBERED) this.replayed.clear();
    for (const [p, key] of keys) this.replayed.set(p, key);
    this.count += items.length;
  }

  /** The reader on this connection, opened on first use and again after it ends. */
  private channelOn(conn: SshConnection): Promise<ClientChannel> {
    if (this.channel?.conn === conn) return this.channel.ch;
    this.close();
    const ch = openExec(conn.client, GUEST_REPLAY_SCRIPT);
    const entry = { conn, ch };
    this.channel = entry;
    ch.then(
      (c) => {
        c.stderr.resume();
        c.resume();
        // A write racing the channel's end must not become an uncaught error that ends the agent.
        c.on('error', (e: Error) => this.log(`file watch: the guest's replay channel failed: ${errorMessage(e)}`));
        c.on('close', () => {
          if (this.channel === entry) this.channel = undefined;
        });
      },
      () => {
        if (this.channel === entry) this.channel = undefined;
      },
    );
    return ch;
  }

  close(): void {
    const old = this.channel;
    this.channel = undefined;
    old?.ch.then(
      (c) => c.end(),
      () => undefined,
    );
  }
}
