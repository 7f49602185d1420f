import { describe, expect, it } from 'vitest';
import { isoTime, mismatch, type SavedRecord } from '../../src/drivers/virtualbox/saved-state.js';

const rec: SavedRecord = {
  version: 1,
  uuid: 'u1',
  vbox: '7.0.20r163906',
  cpus: 2,
  memoryMiB: 2048,
  iso: { path: '/cache/a.iso', size: 10, mtimeMs: 1, ino: 7 },
  shares: [{ tag: 'share0', hostPath: '/home/ann', guestPath: '/home/ann', readOnly: false }],
  privateNic: null,
  binfmt: false,
  recordedAt: '2026-12-04T00:00:00.000Z',
};

describe('VirtualBox saved-state record', () => {
  it('fits the same machine, whenever it was recorded', () => {
    expect(mismatch(rec, { ...rec, recordedAt: '2026-12-05T00:00:00.000Z' })).toBeUndefined();
  });

  it.each<[Partial<SavedRecord>, string]>([
    [{ uuid: 'u2' }, 'belongs to another VirtualBox VM of the same name'],
    [{ vbox: '7.1.4r165100' }, 'was saved by VirtualBox 7.0.20r163906, and this is VirtualBox 7.1.4r165100'],
    [{ cpus: 4 }, 'was saved with other VM settings (cpus 2 then, 4 now)'],
    [{ memoryMiB: 1024 }, 'was saved with other VM settings (memory MiB 2048 then, 1024 now)'],
    [{ binfmt: true }, 'was saved with other VM settings (binfmt false then, true now)'],
    [{ privateNic: { mac: '02:53:4b:00:00:01', intnet: 'skiff-x' } }, 'was saved with other VM settings (private network none then, skiff-x 02:53:4b:00:00:01 now)'],
    [{ shares: [] }, 'was saved with other VM settings (shares /home/ann:/home/ann then, none now)'],
    [{ iso: { ...rec.iso, path: '/cache/b.iso' } }, 'no longer matches the guest image, which changed after the save'],
    [{ iso: { ...rec.iso, mtimeMs: 2 } }, 'no longer matches the guest image, which changed after the save'],
  ])('%o -> %s', (change, why) => {
    expect(mismatch(rec, { ...rec, ...change })).toBe(why);
  });

  it('reads VMStateChangeTime as VBoxManage prints it', () => {
    expect(isoTime('2026-12-04T00:26:30.123456789')).toBe('2026-12-04T00:26:30.123Z');
    expect(isoTime('2015-01-02T17:10:45.667000000Z')).toBe('2015-01-02T17:10:45.667Z');
    expect(isoTime('2012-02-12T11:51:46')).toBe('2012-02-12T11:51:46.000Z');
    expect(isoTime('yesterday')).toBeUndefined();
    expect(isoTime(undefined)).toBeUndefined();
  });
});
