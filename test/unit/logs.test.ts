import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { collapsingRepeats } from '../../src/agent/log.js';
import { flushPartial, printFiles } from '../../src/machine/logs.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'skiff-logs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sink(): { out: Writable; text: () => string } {
  let text = '';
  return {
    out: new Writable({
      write(chunk: Buffer, _e, cb) {
        text += chunk.toString();
        cb();
      },
    }),
    text: () => text,
  };
}

describe('skiff logs', () => {
  const consoleLog = path.join(dir, 'console.log');
  const agentLog = path.join(dir, 'agent.log');
  writeFileSync(consoleLog, 'Linux version 6.12\nSKIFF-READY 11.2\nlogin: ');
  writeFileSync(agentLog, 'ssh connected\n');
  const files = [
    { label: 'console', file: consoleLog },
    { label: 'agent', file: agentLog },
  ];

  it('labels every line when showing both logs, including an unfinished last one', async () => {
    const s = sink();
    const pos = await printFiles(files, true, s.out);
    flushPartial(files, pos, s.out);
    expect(s.text()).toBe('console| Linux version 6.12\nconsole| SKIFF-READY 11.2\nagent  | ssh connected\nconsole| login: \n');
    expect(pos.map((p) => p.offset)).toEqual([43, 14]);
  });

  it('copies one log verbatim', async () => {
    const s = sink();
    await printFiles([files[0]!], false, s.out);
    expect(s.text()).toBe('Linux version 6.12\nSKIFF-READY 11.2\nlogin: ');
  });

  it('a missing log prints nothing', async () => {
    const s = sink();
    const pos = await printFiles([{ label: 'console', file: path.join(dir, 'none.log') }], true, s.out);
    expect(s.text()).toBe('');
    expect(pos[0]!.offset).toBe(0);
  });
});

describe("the agent's link log", () => {
  it('writes a repeated line once and says how often it came when the run ends', () => {
    const out: string[] = [];
    const log = collapsingRepeats((l) => out.push(l));
    for (const l of ['ssh reconnecting: refused', 'ssh reconnecting: refused', 'ssh reconnecting: refused', 'ssh connected', 'ssh connected', 'ssh reconnecting: refused']) log(l);
    expect(out).toEqual([
      'ssh reconnecting: refused',
      '(the line before repeated 2 more times)',
      'ssh connected',
      '(the line before repeated 1 more time)',
      'ssh reconnecting: refused',
    ]);
  });
});
