import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Batcher } from '../../src/agent/watch/batcher.js';
import { bindSources } from '../../src/agent/watch/binds.js';
import { guestPathOf, hostRootsForBind, isWithin, outermost } from '../../src/agent/watch/paths.js';
import { replayMessage } from '../../src/agent/watch/replay.js';
import { describeShareWatch, shareWatchStates } from '../../src/machine/share-watch.js';

/** issue 23 item 3: which host folders are watched for a container, and where each change lands in the guest. */
const HOME = { hostPath: `/home/Jane Doe.t 'q' c:lon ü`, guestPath: `/home/Jane Doe.t 'q' c:lon ü` };
const DATA = { hostPath: '/srv/data', guestPath: '/data' };
const NESTED = { hostPath: '/srv/data/inner', guestPath: '/inner' };

describe('path mapping', () => {
  it('isWithin respects path boundaries', () => {
    expect(isWithin('/a/b', '/a/b')).toBe(true);
    expect(isWithin('/a/b', '/a/b/c')).toBe(true);
    expect(isWithin('/a/b', '/a/bc')).toBe(false);
    expect(isWithin('/', '/x')).toBe(true);
  });

  it('maps a host file to its guest path through the deepest share holding it', () => {
    expect(guestPathOf([HOME], `${HOME.hostPath}/proj/src/ü x "y".ts`)).toBe(`${HOME.guestPath}/proj/src/ü x "y".ts`);
    expect(guestPathOf([DATA, NESTED], '/srv/data/a.txt')).toBe('/data/a.txt');
    expect(guestPathOf([DATA, NESTED], '/srv/data/inner/b.txt')).toBe('/inner/b.txt');
    expect(guestPathOf([DATA], '/srv/data')).toBe('/data');
  });

  it('never maps a path outside every share, one escaping with .., or one with a newline', () => {
    expect(guestPathOf([DATA], '/srv/database/x')).toBeUndefined();
    expect(guestPathOf([DATA], '/srv/data/../secret')).toBeUndefined();
    expect(guestPathOf([DATA], '/etc/passwd')).toBeUndefined();
    expect(guestPathOf([DATA], '/srv/data/two\nlines')).toBeUndefined();
  });

  it('turns a bind source in the guest into the host folders to watch', () => {
    expect(hostRootsForBind([HOME, DATA], `${HOME.guestPath}/proj`)).toEqual([`${HOME.hostPath}/proj`]);
    expect(hostRootsForBind([HOME, DATA], '/data/x/y')).toEqual(['/srv/data/x/y']);
    // a bind above a share sees the whole share
    expect(hostRootsForBind([HOME, DATA], '/home')).toEqual([HOME.hostPath]);
    expect(hostRootsForBind([HOME, DATA], '/')).toEqual([HOME.hostPath, '/srv/data']);
    // the guest's own folders are not shared: nothing to watch
    expect(hostRootsForBind([HOME, DATA], '/var/lib/app')).toEqual([]);
    expect(hostRootsForBind([DATA], '/database')).toEqual([]);
  });

  it('watches each folder once: nested roots fold into the outer one', () => {
    expect(outermost(['/a/b/c', '/a/b', '/x', '/a/bc', '/a/b'])).toEqual(['/a/b', '/a/bc', '/x']);
  });

  it('reads bind mounts (not volumes) from an inspect document', () => {
    const inspect = {
      Mounts: [
        { Type: 'bind', Source: '/data/x', Destination: '/w' },
        { Type: 'volume', Name: 'v', Source: '/var/lib/docker/volumes/v/_data', Destination: '/v' },
        { Type: 'bind', Source: 'relative', Destination: '/r' },
        'junk',
      ],
    };
    expect(bindSources(inspect)).toEqual(['/data/x']);
    expect(bindSources({})).toEqual([]);
    expect(bindSources(null)).toEqual([]);
  });
});

describe('the replay message', () => {
  it('groups paths by the mode they have (suid bits kept, file type dropped), one chmod per group', () => {
    const msg = replayMessage([
      { guestPath: "/h/a b 'q' c:lon ü", mode: 0o100644 },
      { guestPath: '/h/dir', mode: 0o40755 },
      { guestPath: '/h/run', mode: 0o104755 },
      { guestPath: '/h/b', mode: 0o100644 },
    ]);
    expect(msg).toBe("M 644\n/h/a b 'q' c:lon ü\n/h/b\n\nM 755\n/h/dir\n\nM 4755\n/h/run\n\n");
  });
  it('splits a big group so no chmod gets more than 256 paths', () => {
    const msg = replayMessage(Array.from({ length: 600 }, (_, i) => ({ guestPath: `/h/f${i}`, mode: 0o100644 })));
    const groups = msg.split('\n\n').filter(Boolean);
    expect(groups.map((g) => g.split('\n').length - 1)).toEqual([256, 256, 88]);
    expect(groups.every((g) => g.startsWith('M 644\n'))).toBe(true);
  });
});

describe('Batcher', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('hands over one deduplicated batch once changes stop coming', async () => {
    const batches: string[][] = [];
    const b = new Batcher(async (x) => void batches.push(x), 50, 500);
    b.add('/a');
    b.add('/b');
    await vi.advanceTimersByTimeAsync(30);
    b.add('/a');
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(50);
    await b.idle();
    expect(batches).toEqual([['/a', '/b']]);
  });

  it('a steady stream is still handed over every maxWait', async () => {
    const batches: string[][] = [];
    const b = new Batcher(async (x) => void batches.push(x), 50, 200);
    for (let i = 0; i < 10; i++) {
      b.add(`/f${i}`);
      await vi.advanceTimersByTimeAsync(40);
    }
    expect(batches.length).toBeGreaterThanOrEqual(1);
    expect(batches[0]).toEqual(['/f0', '/f1', '/f2', '/f3', '/f4']);
  });

  it('handles one batch at a time, in order, and a failing one does not stop the next', async () => {
    const order: string[] = [];
    let release: () => void = () => undefined;
    const b = new Batcher(
      async (x) => {
        order.push(`start ${x.join()}`);
        if (x[0] === '/1') await new Promise<void>((r) => (release = r));
        if (x[0] === '/2') throw new Error('boom');
        order.push(`end ${x.join()}`);
      },
      10,
      100,
    );
    b.add('/1');
    await vi.advanceTimersByTimeAsync(10);
    b.add('/2');
    await vi.advanceTimersByTimeAsync(10);
    b.add('/3');
    await vi.advanceTimersByTimeAsync(10);
    expect(order).toEqual(['start /1']);
    release();
    await b.idle();
    expect(order).toEqual(['start /1', 'end /1', 'start /2', 'start /3', 'end /3']);
  });

  it('drops what is pending when stopped', async () => {
    const batches: string[][] = [];
    const b = new Batcher(async (x) => void batches.push(x), 50, 500);
    b.add('/a');
    b.stop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(batches).toEqual([]);
  });
});

describe('share watch in status', () => {
  const shares = [
    { hostPath: '/h', guestPath: '/h', readOnly: false },
    { hostPath: '/r', guestPath: '/r', readOnly: true },
  ];
  it('says per share whether watching is on, off, or impossible (read-only)', () => {
    const report = { shares: [{ hostPath: '/h', folders: ['/h/p'], directories: 12 }], replayed: 3 };
    const on = shareWatchStates({ shares, watch: true }, report);
    expect(on).toEqual([{ state: 'on', folders: ['/h/p'], directories: 12 }, { state: 'read-only' }]);
    expect(on.map(describeShareWatch)).toEqual(['watch: on (1 folder bind-mounted, 12 directories watched)', 'watch: no (read-only)']);
    expect(shareWatchStates({ shares, watch: false }, report).map((w) => w.state)).toEqual(['off', 'read-only']);
    expect(shareWatchStates({ shares, watch: true }, undefined).map(describeShareWatch)[0]).toBe('watch: on at start');
    const limited = shareWatchStates({ shares, watch: true }, { shares: [{ hostPath: '/h', folders: [], directories: 0, limited: 'the limit' }], replayed: 0 });
    expect(describeShareWatch(limited[0]!)).toBe('watch: on (no folder bind-mounted by a container; LIMITED: the limit)');
  });
});
