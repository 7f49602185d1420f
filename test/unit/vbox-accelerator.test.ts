import { describe, expect, it } from 'vitest';
import { acceleratorFromLog } from '../../src/drivers/virtualbox/accelerator.js';

// VBox.log lines as VirtualBox's HMR3.cpp / NEMR3.cpp log them (LogRel).
describe('acceleratorFromLog', () => {
  it.each([
    ['00:00:03.185615 HM: HMR3Init: VT-x w/ nested paging and unrestricted guest execution hw support\n', 'VT-x (nested paging)'],
    ['00:00:00.072138 HM: HMR3Init: AMD-V w/ nested paging\n', 'AMD-V (nested paging)'],
    ['00:00:00.072138 HM: HMR3Init: AMD-V\n', 'AMD-V'],
    ['HM: HMR3Init: Attempting fall back to NEM: VT-x is not available\nNEM: NEMR3Init: Snail execution mode is active!\n', 'Hyper-V (NEM, slow)'],
    ['NEM: NEMR3Init: Turtle execution mode is active!\n', 'Hyper-V (NEM, slow)'],
    ['HM: HMR3Init: Falling back on IEM: VT-x is not available\n', 'none (IEM interpreter, very slow)'],
    ['', undefined],
  ])('%#', (log, accel) => {
    expect(acceleratorFromLog(log)).toBe(accel);
  });
});
