import type { Writable } from 'node:stream';

const corked = new WeakSet<Writable>();

/**
 * Corks `w` until the end of the current tick, so the many small writes one
 * event produces go out as one writev. ssh2 writes every packet as three
 * buffers (length, ciphertext, tag) when it runs without its native binding;
 * uncorked, each would be its own syscall.
 */
export function corkForTick(w: Writable): void {
  if (corked.has(w)) return;
  corked.add(w);
  w.cork();
  process.nextTick(() => {
    corked.delete(w);
    w.uncork();
  });
}

/**
 * Makes every write to `w` cork it for the rest of the tick. Applied to the SSH
 * TCP socket, this batches everything ssh2 sends (data packets, window adjusts,
 * channel opens) into one writev per tick without touching ssh2 itself.
 */
export function batchWritesPerTick(w: Writable): void {
  const write = w.write;
  w.write = function (this: Writable, ...args: Parameters<Writable['write']>): boolean {
    corkForTick(this);
    return write.apply(this, args);
  } as Writable['write'];
}
