import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { StageReporter } from '../../src/ui/stages.js';

/** A stream that looks like a terminal of the given width and counts what is written to it. */
function fakeTty(columns: number | undefined): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  Object.assign(s, { isTTY: true, columns, rows: 24, cursorTo: () => true, moveCursor: () => true, clearLine: () => true });
  return { stream: s, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('StageReporter', () => {
  it('on a terminal that reports no width, writes one line per stage instead of spinning', async () => {
    const tty = fakeTty(0);
    const ui = await StageReporter.create(true, false, tty.stream);
    ui.stage('booting');
    ui.stage('engine', 'waiting for the engine');
    await sleep(400);
    ui.succeed('Machine "default" is running');
    expect(tty.text()).toBe('booting...\nwaiting for the engine...\nMachine "default" is running\n');
    expect(ui.timings.map((t) => t.stage)).toEqual(['booting', 'engine']);
  });

  it('on a sized terminal, spins and ends with the success line', async () => {
    const tty = fakeTty(80);
    const ui = await StageReporter.create(true, false, tty.stream);
    ui.stage('booting');
    await sleep(300);
    ui.succeed('done');
    const out = tty.text();
    expect(out).toContain('booting');
    expect(out).toContain('done');
    // A few frames of an 80-column line, not megabytes.
    expect(out.length).toBeLessThan(20_000);
  });

  it('writes nothing when not interactive, but still times the stages', async () => {
    const tty = fakeTty(80);
    const ui = await StageReporter.create(false, false, tty.stream);
    ui.stage('booting');
    ui.notice('slow');
    ui.succeed('done');
    expect(tty.text()).toBe('');
    expect(ui.timings).toHaveLength(1);
  });
});
