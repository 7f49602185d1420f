/**
 * Which execution engine a running VirtualBox VM got, read from its release log
 * (`VBoxManage showvminfo VM --log 0`, VBox.log). The lines are VirtualBox's
 * LogRel texts: HMR3.cpp prints "HM: HMR3Init: VT-x w/ nested paging ..." or
 * "HM: HMR3Init: AMD-V w/ nested paging" when it has the hardware, and "HM:
 * HMR3Init: Attempting fall back to NEM: ..." when Hyper-V holds it; NEMR3.cpp
 * then prints "NEM: NEMR3Init: Snail execution mode is active!" (Windows) or
 * "Turtle execution mode" (elsewhere). Last resort, "Falling back on IEM": every
 * instruction interpreted.
 */
export function acceleratorFromLog(log: string): string | undefined {
  if (/NEM: NEMR3Init: (Snail|Turtle) execution mode is active/.test(log)) return 'Hyper-V (NEM, slow)';
  if (/HM: HMR3Init: Falling back on IEM/.test(log)) return 'none (IEM interpreter, very slow)';
  const hm = /HM: HMR3Init: (VT-x|AMD-V)( w\/ nested paging)?/.exec(log);
  if (hm) return hm[2] ? `${hm[1]} (nested paging)` : hm[1];
  return undefined;
}
