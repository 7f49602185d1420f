import { errorMessage } from '../errors.js';
import type { SshConnection } from '../ssh/connect.js';
import { execCollect } from '../ssh/exec.js';
import type { Log } from './log.js';

/** What the last run of the mount command found. */
export interface MountsStatus {
  /** ISO time it ended. */
  at: string;
  /** Indexes, into the machine's shares, of those still not mounted. */
  missing: number[];
  /** The command failed as a whole: the first line it said, or its exit status. */
  error?: string;
}

/**
 * Mounts the machine's shares over the agent's own connection each time it comes
 * up, so that `start` needs no SSH login of its own for them: under TCG a login
 * costs the guest most of a second, which a resume would otherwise spend after
 * the agent's. The command (machine/shares-mount.ts) mounts only what is not
 * mounted, so a reconnect after the host slept changes nothing, and one after a
 * resume mounts again what the suspend unmounted.
 */
export class GuestMounts {
  private last: MountsStatus | undefined;
  private runs = 0;

  constructor(
    private readonly command: string,
    private readonly log: Log,
    private readonly changed: () => void,
  ) {}

  connected(conn: SshConnection): void {
    const run = ++this.runs;
    void this.mount(conn).then((status) => {
      // A run cut off with its connection says nothing: the next connection runs it again.
      if (status === undefined || run !== this.runs) return;
      this.last = status;
      this.changed();
    });
  }

  status(): MountsStatus | undefined {
    return this.last;
  }

  private async mount(conn: SshConnection): Promise<MountsStatus | undefined> {
    try {
      const r = await execCollect(conn.client, this.command);
      const at = new Date().toISOString();
      if (r.code !== 0) {
        if (conn.socket.destroyed) return undefined;
        const error = r.stderr.toString().trim().split('\n')[0] || `exit ${r.code}`;
        this.log(`mounting the shares failed: ${error}`);
        return { at, missing: [], error };
      }
      const missing = r.stdout
        .toString()
        .split('\n')
        .filter((l) => /^\d+$/.test(l))
        .map(Number);
      this.log(missing.length === 0 ? 'shares mounted' : `shares mounted, except ${missing.length} (indexes ${missing.join(', ')})`);
      return { at, missing };
    } catch (e) {
      if (conn.socket.destroyed) return undefined;
      this.log(`mounting the shares failed: ${errorMessage(e)}`);
      return { at: new Date().toISOString(), missing: [], error: errorMessage(e) };
    }
  }
}
