import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { batchWritesPerTick } from '../../src/agent/batch.js';

function recorder(): { w: Writable; calls: number[] } {
  const calls: number[] = [];
  const w = new Writable({
    write(chunk: Buffer, _e, cb) {
      calls.push(1);
      cb();
    },
    writev(chunks, cb) {
      calls.push(chunks.length);
      cb();
    },
  });
  return { w, calls };
}

describe('per-tick write batching for the SSH socket', () => {
  it('turns the writes of one tick into a single writev, in order', async () => {
    const { w, calls } = recorder();
    const seen: string[] = [];
    const orig = w._writev!.bind(w);
    w._writev = (chunks, cb) => {
      seen.push(...chunks.map((c) => (c.chunk as Buffer).toString()));
      orig(chunks, cb);
    };
    batchWritesPerTick(w);
    w.write('len');
    w.write('payload');
    w.write('tag');
    expect(calls).toEqual([]);
    await new Promise((r) => process.nextTick(r));
    expect(calls).toEqual([3]);
    expect(seen).toEqual(['len', 'payload', 'tag']);
  });

  it('starts a new batch in the next tick', async () => {
    const { w, calls } = recorder();
    batchWritesPerTick(w);
    w.write('a');
    await new Promise((r) => setImmediate(r));
    w.write('b');
    w.write('c');
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([1, 2]);
  });
});
