import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { choosePeriodMs, parseAdjtimex, stepScript } from '../../src/agent/clock.js';
import { WakeWatch } from '../../src/agent/wake.js';

const report = (status: number, sec: number, usec: number): string =>
  `    mode:         0\n-o  offset:       0 us\n    status:       ${status} (UNSYNC)\n    time.tv_sec:  ${sec}\n    time.tv_usec: ${usec}\n    return value: 5\n`;

describe('guest clock', () => {
  it('reads adjtimex in both micro- and nanosecond mode', () => {
    expect(parseAdjtimex(report(8256, 1796280550, 518960888))).toEqual({ ms: 1796280550518.960888, nano: true });
    expect(parseAdjtimex(report(64, 1796280550, 518960)).ms).toBeCloseTo(1796280550518.96, 3);
    expect(() => parseAdjtimex('nothing')).toThrow(/status/);
  });

  it('steps to the next whole corrected second: sleeps to it, then sets it', () => {
    // The guest reads 100.250000 s and is 60.5 s behind: the host is at 160.750 s,
    // so it sleeps 0.25 s and sets 161.
    const stubs = `adjtimex() { printf '%s' '${report(8256, 100, 250_000_000)}'; }\nusleep() { echo "usleep $1"; }\ndate() { echo "date $*" >&2; }\n`;
    const r = spawnSync('busybox', ['sh', '-c', stubs + stepScript(-60_500, true)], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('usleep 250000');
    expect(r.stderr.trim()).toBe('date -u -s @161');
  });

  it('checks less often when a check costs more', () => {
    expect(choosePeriodMs(5)).toBe(5_000);
    expect(choosePeriodMs(90)).toBe(18_000);
    expect(choosePeriodMs(5_000)).toBe(60_000);
  });
});

describe('wake watch', () => {
  const clocks = { wall: 0, mono: 0 };
  const fake = { wall: () => clocks.wall, mono: () => clocks.mono };

  it('tells a host sleep, a stopped agent and a set-back clock from a normal tick', () => {
    const seen: string[] = [];
    const w = new WakeWatch((_gap, why) => seen.push(why), 1_000, 2_000, fake);
    w.start();
    w.stop();
    clocks.wall += 1_000;
    clocks.mono += 1_000;
    w.tick();
    expect(seen).toEqual([]);
    clocks.wall += 300_000; // suspended: the monotonic clock did not move
    clocks.mono += 1_000;
    w.tick();
    clocks.wall += 60_000; // SIGSTOP: both moved, the tick is late
    clocks.mono += 60_000;
    w.tick();
    clocks.wall -= 10_000; // the host's clock was set back
    clocks.mono += 1_000;
    w.tick();
    expect(seen).toEqual(['host wall clock jumped 299.0 s', 'agent did not run for 60.0 s', 'host wall clock jumped -11.0 s']);
  });
});
