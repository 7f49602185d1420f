import { watch, type FSWatcher } from 'node:fs';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, lstatSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SshConnection } from '../../src/ssh/connect.js';
import { FileWatch } from '../../src/agent/watch/file-watch.js';
import { connectWhenUp } from '../helpers/ssh-connect.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';

/**
 * issue 23 item 3, against a real sshd on loopback: the "guest" is this machine,
 * its share a second folder mirroring the host folder's names, so every replay
 * the agent sends over its exec channel is seen by a real inotify watcher
 * (fs.watch) on the guest side.
 */
let sshd: TestSshd;
let conn: SshConnection;
const root = mkdtempSync(path.join(os.tmpdir(), 'skiff-file-watch-'));
const HOST = path.join(root, `host Jane 'q' "d" c:lon ü`);
const GUEST = path.join(root, `guest dir ü`);
const OUTSIDE = path.join(root, 'outside');
const FILE = `a b 'c' ü:x.txt`;
const OLD = new Date('2020-01-02T03:04:05Z');

/** Both sides get the same tree; the guest side's files keep an old mtime, so a replay is visible as no change of it. */
function mirror(rel: string, content = 'x\n'): void {
  for (const side of [HOST, GUEST]) {
    mkdirSync(path.dirname(path.join(side, rel)), { recursive: true });
    writeFileSync(path.join(side, rel), content);
  }
  utimesSync(path.join(GUEST, rel), OLD, OLD);
}

/** Names the guest side's inotify reports in one folder (relative to the guest share, or absolute). */
function guestEvents(dir: string): { names: string[]; close(): void } {
  const names: string[] = [];
  const w: FSWatcher = watch(path.resolve(GUEST, dir), (_e, name) => {
    if (name) names.push(name.toString());
  });
  return { names, close: () => w.close() };
}

const logs: string[] = [];
function fileWatch(maxWatches?: number, shares = [{ hostPath: HOST, guestPath: GUEST }]): FileWatch {
  return new FileWatch({ shares, exclude: [path.join(HOST, 'state')], ...(maxWatches ? { maxWatches } : {}) }, () => conn, (t) => logs.push(t), () => undefined);
}
const bind = (...sources: string[]) => ({ Mounts: sources.map((Source) => ({ Type: 'bind', Source, Destination: '/w' })) });

beforeAll(async () => {
  sshd = await startSshd();
  conn = await connectWhenUp({ host: sshd.host, port: sshd.port, user: sshd.user }, sshd.keyPath, sshd.hostPubPath, 10_000);
  mirror(`proj/${FILE}`);
  mirror('proj/later.txt');
  mirror('proj/new dir/inside.txt');
  mirror('proj/node_modules/pkg/index.js');
  mirror('proj/deep/er/est/f.txt');
  mirror('state/disk.img');
  mkdirSync(OUTSIDE);
  writeFileSync(path.join(OUTSIDE, 'secret'), 'secret\n');
  utimesSync(path.join(OUTSIDE, 'secret'), OLD, OLD);
  // host: a plain file; guest: a symlink of the same name pointing out of the share
  writeFileSync(path.join(HOST, 'proj', 'trap'), 'plain\n');
  symlinkSync(path.join(OUTSIDE, 'secret'), path.join(GUEST, 'proj', 'trap'));
  rmSync(path.join(HOST, 'proj', 'new dir'), { recursive: true });
});

afterAll(async () => {
  conn?.client.end();
  await sshd?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('file watch: host edits replayed in the guest over one SSH channel', () => {
  it('watches the folder a container bind-mounts, skipping node_modules, and a host edit reaches a watcher in the guest', async () => {
    const fw = fileWatch();
    const seen = guestEvents('proj');
    try {
      fw.containerStarted('c1', bind(path.join(GUEST, 'proj')));
      await fw.settled();
      const st = fw.status().shares[0]!;
      expect(st.folders).toEqual([path.join(HOST, 'proj')]);
      // proj, deep, deep/er, deep/er/est: node_modules and what is under it are not watched
      expect(st.directories).toBe(4);
      writeFileSync(path.join(HOST, 'proj', FILE), 'edited on the host\n');
      await vi.waitFor(() => expect(seen.names).toContain(FILE), { timeout: 10_000, interval: 50 });
      // the guest file keeps its mtime and mode: nothing was written to it
      expect(statSync(path.join(GUEST, 'proj', FILE)).mtime.getTime()).toBe(OLD.getTime());
      expect(statSync(path.join(GUEST, 'proj', FILE)).mode & 0o7777).toBe(0o644 & ~process.umask());
      expect(fw.status().replayed).toBeGreaterThanOrEqual(1);
    } finally {
      seen.close();
      fw.stop();
    }
  });

  it('watches folders created later (and replays what they already hold), and never touches a guest symlink pointing out', async () => {
    const fw = fileWatch();
    const seen = guestEvents('proj');
    const seenNew = guestEvents('proj/new dir');
    const seenOutside = guestEvents(OUTSIDE);
    try {
      fw.containerStarted('c1', bind(path.join(GUEST, 'proj')));
      await fw.settled();
      writeFileSync(path.join(HOST, 'proj', 'trap'), 'edited\n');
      mkdirSync(path.join(HOST, 'proj', 'new dir'));
      writeFileSync(path.join(HOST, 'proj', 'new dir', 'inside.txt'), 'new\n');
      await vi.waitFor(() => expect(seenNew.names).toContain('inside.txt'), { timeout: 10_000, interval: 50 });
      // `trap` was replayed before `inside.txt` on the same channel: the guest's reader skipped the symlink
      writeFileSync(path.join(HOST, 'proj', 'later.txt'), 'later\n');
      await vi.waitFor(() => expect(seen.names).toContain('later.txt'), { timeout: 10_000, interval: 50 });
      expect(statSync(path.join(OUTSIDE, 'secret')).mtime.getTime()).toBe(OLD.getTime());
      expect(lstatSync(path.join(GUEST, 'proj', 'trap')).isSymbolicLink()).toBe(true);
      expect(seen.names).not.toContain('trap');
      expect(seenOutside.names).toEqual([]);
    } finally {
      seen.close();
      seenOutside.close();
      seenNew.close();
      fw.stop();
    }
  });

  it('does not loop on its own replay when guest and host are the same files, and skips removed files', async () => {
    const same = path.join(root, 'same');
    mkdirSync(same);
    writeFileSync(path.join(same, 'f'), '1');
    writeFileSync(path.join(same, 'g'), '1');
    const fw = fileWatch(undefined, [{ hostPath: same, guestPath: same }]);
    try {
      fw.containerStarted('c1', bind(same));
      await fw.settled();
      const before = statSync(path.join(same, 'f'), { bigint: true }).mtimeNs;
      writeFileSync(path.join(same, 'f'), '22');
      const edited = statSync(path.join(same, 'f'), { bigint: true }).mtimeNs;
      await vi.waitFor(() => expect(fw.status().replayed).toBe(1), { timeout: 10_000, interval: 50 });
      rmSync(path.join(same, 'g'));
      writeFileSync(path.join(same, 'h'), '3');
      await vi.waitFor(() => expect(fw.status().replayed).toBeGreaterThanOrEqual(2), { timeout: 10_000, interval: 50 });
      await new Promise((r) => setTimeout(r, 1_000));
      // f's replay changed its ctime (a host event) but not its mtime: not replayed again; g is gone: skipped
      expect(fw.status().replayed).toBe(2);
      expect(statSync(path.join(same, 'f'), { bigint: true }).mtimeNs).toBe(edited);
      expect(edited).not.toBe(before);
    } finally {
      fw.stop();
    }
  });

  it('keeps to its watch limit, says so in one log line and in status, and stops watching when the container stops', async () => {
    logs.length = 0;
    const fw = fileWatch(2);
    try {
      fw.containerStarted('c1', bind(path.join(GUEST, 'proj')));
      fw.containerStarted('c2', bind(GUEST)); // the whole share: excludes state/, folds proj in
      await fw.settled();
      const st = fw.status().shares[0]!;
      expect(st.folders).toEqual([HOST]);
      expect(st.directories).toBe(2);
      expect(st.limited).toMatch(/limit of 2 watched folders/);
      expect(logs.filter((l) => /limit of 2/.test(l))).toHaveLength(1);
      fw.containerStopped('c2');
      await fw.settled();
      expect(fw.status().shares[0]!.folders).toEqual([path.join(HOST, 'proj')]);
      fw.synced(new Map());
      await fw.settled();
      expect(fw.status().shares[0]).toEqual({ hostPath: HOST, folders: [], directories: 0 });
    } finally {
      fw.stop();
    }
  });
});
