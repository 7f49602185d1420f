import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MachinePaths } from '../../layout/paths.js';
import { notAVm, type RemoteHost } from '../../remote/host.js';
import { remoteSshTarget } from '../../remote/login.js';
import { engineVersionOver } from '../../remote/engine-socket.js';
import { connectSsh } from '../../ssh/connect.js';
import { remoteWhere } from '../../ssh/remote-errors.js';
import { exists } from '../../util/exists.js';
import type { Driver, DriverInfo, ResumeResult, SavedState, SshEndpoint, VmState, VmWatch } from '../driver.js';

export interface RemoteSpec {
  name: string;
  paths: MachinePaths;
  remote: RemoteHost;
}

/**
 * An existing Linux host with its own Docker engine, reached over SSH. Nothing
 * here runs, creates or powers off anything on that host: "running" means skiff
 * is connected to it (`start` until `stop`), which a marker in the machine's
 * runtime dir records, so a host reboot of the laptop reads as disconnected.
 */
export class SshHostDriver implements Driver {
  readonly name = 'ssh' as const;
  /** There is no boot to pass settings to, and nothing to apply after. */
  readonly passesBootSettings = true;

  constructor(private readonly spec: RemoteSpec) {}

  private get marker(): string {
    return path.join(this.spec.paths.runDir, 'connected');
  }

  private endpoint(): SshEndpoint {
    return { host: this.spec.remote.host, port: this.spec.remote.port };
  }

  async check(): Promise<void> {}

  async create(): Promise<void> {}

  /**
   * One login and one engine call before the agent takes over: an unreachable
   * host, a refused key, a changed host key or a stopped engine is said now, in
   * its own words, instead of as an agent that never connects.
   */
  async start(): Promise<SshEndpoint> {
    const target = await remoteSshTarget(this.spec.paths, this.spec.remote);
    const conn = await connectSsh(target, { readyTimeoutMs: 20_000 });
    try {
      await engineVersionOver(conn, this.spec.remote.engineSocket, remoteWhere(target));
    } finally {
      conn.client.end();
    }
    await mkdir(this.spec.paths.runDir, { recursive: true, mode: 0o700 });
    await writeFile(this.marker, `${new Date().toISOString()}\n`, { mode: 0o600 });
    return this.endpoint();
  }

  async suspend(): Promise<SavedState> {
    throw notAVm(this.spec.name, this.spec.remote, 'suspend');
  }

  async savedState(): Promise<SavedState | undefined> {
    return undefined;
  }

  async resume(): Promise<ResumeResult> {
    return { resumed: false, why: 'cannot exist for a remote host' };
  }

  async discardSavedState(): Promise<void> {}

  /** Disconnects (the caller stopped the agent); never powers anything off. */
  async stop(): Promise<void> {
    await rm(this.marker, { force: true });
  }

  async state(): Promise<VmState> {
    return (await exists(this.marker)) ? 'running' : 'stopped';
  }

  /** Known whether or not skiff is connected: `skiff ssh` reaches the host either way. */
  async sshEndpoint(): Promise<SshEndpoint | undefined> {
    return this.endpoint();
  }

  async info(): Promise<DriverInfo> {
    return {};
  }

  async setImage(): Promise<void> {
    throw notAVm(this.spec.name, this.spec.remote, 'upgrade');
  }

  /** No VM to watch: the agent reconnects to the host until `stop`. */
  async watch(): Promise<VmWatch | undefined> {
    return undefined;
  }

  /** Forgets the connection; the host is left as it is. */
  async remove(): Promise<void> {
    await rm(this.marker, { force: true });
  }

  /** SSH carries no datagrams and skiff has no NAT in front of a real host. */
  udpForwarding(): undefined {
    return undefined;
  }

  pauseControl(): undefined {
    return undefined;
  }
}
