import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { watchPause } from '../../src/agent/pause-watch.js';
import type { PauseControl } from '../../src/drivers/driver.js';
import type { PauseCause } from '../../src/drivers/pause.js';
import { pauseReasonFrom } from '../../src/drivers/qemu/pause.js';
import { diskFullInLog } from '../../src/drivers/virtualbox/pause.js';
import { isFull, parseDfPk } from '../../src/machine/disk-use.js';

describe('why QEMU paused the VM', () => {
  it('an I/O error with a device out of space is a full host disk', () => {
    const blocks = [{ device: '', qdev: '/machine/peripheral-anon/device[1]/virtio-backend', 'io-status': 'nospace' }, { device: '', 'io-status': 'ok' }];
    expect(pauseReasonFrom('io-error', blocks)).toBe('host-disk-full');
  });
  it('an I/O error without one is a host disk error', () => {
    expect(pauseReasonFrom('io-error', [{ 'io-status': 'failed' }, { 'io-status': 'ok' }])).toBe('host-disk-error');
  });
  it('a QMP stop or a guest suspend is a plain pause; a running VM has no reason', () => {
    expect(pauseReasonFrom('paused', [])).toBe('paused');
    expect(pauseReasonFrom('suspended', [])).toBe('paused');
    expect(pauseReasonFrom('running', [])).toBeUndefined();
  });
});

describe("VirtualBox's log of a full host disk", () => {
  const before = [
    "00:00:01.000000 Changing the VM state from 'POWERING_ON' to 'RUNNING'",
    '00:05:12.000000 VD#0: Host disk full',
    "00:05:12.000100 VM: Raising runtime error 'DrvVD_DISKFULL' (fFlags=0x6)",
    '00:05:12.000200 Console: VM runtime error: fatal=false, errorID=DrvVD_DISKFULL message="Host system reported disk full. VM execution is suspended. You can resume after freeing some space"',
    "00:05:12.000300 Changing the VM state from 'RUNNING' to 'SUSPENDING'",
    "00:05:12.000400 Changing the VM state from 'SUSPENDING' to 'SUSPENDED'",
  ].join('\n');
  it('is the reason while the VM has not run since', () => {
    expect(diskFullInLog(before)).toBe(true);
  });
  it('is history once the VM ran again', () => {
    const after = `${before}\n00:06:00.000000 Changing the VM state from 'SUSPENDED' to 'RESUMING'\n00:06:00.000100 Changing the VM state from 'RESUMING' to 'RUNNING'`;
    expect(diskFullInLog(after)).toBe(false);
    expect(diskFullInLog("00:00:01.000000 Changing the VM state from 'POWERING_ON' to 'RUNNING'")).toBe(false);
  });
});

describe('the data disk use the guest reports', () => {
  it('reads busybox df -Pk', () => {
    const text = 'Filesystem           1024-blocks    Used Available Capacity Mounted on\n/dev/vda1              3997376   1203456   2567040  32% /mnt/data\n';
    expect(parseDfPk(text)).toEqual({ sizeBytes: 3997376 * 1024, usedBytes: 1203456 * 1024, availableBytes: 2567040 * 1024 });
  });
  it('gives nothing for output it cannot read', () => {
    expect(parseDfPk('df: /mnt/data: No such file or directory\n')).toBeUndefined();
    expect(parseDfPk('')).toBeUndefined();
  });
});

describe("the agent's watch on a VM paused on a full host disk", () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function play(opts: { causes: Array<PauseCause | undefined>; free: number[]; linkUp?: boolean }) {
    dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-pause-'));
    const ctl: PauseControl = { kind: 'qemu', qmpSocket: path.join(dir, 'qmp.sock'), dataDisk: path.join(dir, 'data.qcow2') };
    const log: string[] = [];
    let resumed = 0;
    let notified = 0;
    let i = 0;
    let j = 0;
    const w = watchPause(ctl, {
      log: (l) => log.push(l),
      linkUp: () => opts.linkUp ?? false,
      intervalMs: 5,
      minFreeBytes: 100,
      cause: async () => opts.causes[Math.min(i++, opts.causes.length - 1)],
      freeBytes: async () => opts.free[Math.min(j++, opts.free.length - 1)]!,
      resume: async (c) => {
        expect(c).toBe(ctl);
        resumed++;
      },
      onResumed: () => notified++,
    });
    await new Promise((r) => setTimeout(r, 120));
    w.stop();
    return { log, resumed, notified, asked: i };
  }

  const full: PauseCause = { reason: 'host-disk-full', detail: 'the host disk is full' };

  it('waits for space, then resumes the VM once and tells the agent', async () => {
    const r = await play({ causes: [full, full, full, undefined], free: [0, 50, 100] });
    expect(r.resumed).toBe(1);
    expect(r.notified).toBe(1);
    expect(r.log.filter((l) => l.includes('the VM is paused: the host disk is full'))).toHaveLength(1);
    expect(r.log.some((l) => /free again: resuming the VM/.test(l))).toBe(true);
  });

  it('leaves a VM paused for another reason alone', async () => {
    const r = await play({ causes: [{ reason: 'paused', detail: 'paused in the hypervisor' }], free: [1e12] });
    expect(r.resumed).toBe(0);
    expect(r.log).toEqual(['the VM is paused: paused in the hypervisor']);
  });

  it('does not ask while the link is up', async () => {
    const r = await play({ causes: [full], free: [1e12], linkUp: true });
    expect(r.asked).toBe(0);
    expect(r.resumed).toBe(0);
  });
});

describe('a full data disk', () => {
  it('is full with a few KiB left, not with a few hundred MiB', () => {
    const size = 2 * 2 ** 30;
    expect(isFull({ sizeBytes: size, usedBytes: size, availableBytes: 8 * 1024 })).toBe(true);
    expect(isFull({ sizeBytes: size, usedBytes: size / 2, availableBytes: 300 * 2 ** 20 })).toBe(false);
  });
});
