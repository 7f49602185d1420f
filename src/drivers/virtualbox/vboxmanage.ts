import { execa } from 'execa';
import { ExitCode, SkiffError } from '../../errors.js';
import { sleep } from '../../util/wait.js';
import { classify, VBoxManageFailure } from './errors.js';

export interface RunOptions {
  /**
   * VirtualBox releases a VM's session lock a moment after the VM powers off;
   * commands right after a poweroff can see "already locked". Those are retried.
   */
  retryLockedMs?: number;
  timeoutMs?: number;
}

/** Runs one VBoxManage binary; every failure becomes a VBoxManageFailure carrying stderr. */
export class VBoxManage {
  constructor(readonly bin: string) {}

  async run(args: readonly string[], opts: RunOptions = {}): Promise<string> {
    const deadline = Date.now() + (opts.retryLockedMs ?? 0);
    for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
      try {
        return await this.once(args, opts.timeoutMs ?? 120_000);
      } catch (e) {
        const locked = e instanceof VBoxManageFailure && classify(e.stderr) === 'locked';
        if (!locked || Date.now() + delay > deadline) throw e;
        await sleep(delay);
      }
    }
  }

  private async once(args: readonly string[], timeoutMs: number): Promise<string> {
    // --nologo is not used: VBoxManage 7 rejects it after the command, and it is a no-op for --machinereadable.
    const r = await execa(this.bin, args, {
      reject: false,
      timeout: timeoutMs,
      stdin: 'ignore',
      env: { LC_ALL: 'C' },
      stripFinalNewline: false,
    });
    if (r.failed && r.exitCode === undefined) {
      if ((r as { code?: string }).code === 'ENOENT') {
        throw new SkiffError('vbox-missing', `VBoxManage disappeared from ${this.bin}`, {
          hint: 'reinstall VirtualBox, or use --driver qemu',
          exitCode: ExitCode.environment,
        });
      }
      throw new VBoxManageFailure(args, undefined, r.timedOut ? `VBoxManage: error: timed out after ${timeoutMs} ms` : String(r.stderr || r.message));
    }
    if (r.exitCode !== 0) throw new VBoxManageFailure(args, r.exitCode, String(r.stderr || r.stdout));
    return String(r.stdout);
  }
}
