import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { PauseControl, UdpForwarding, VmWatch } from '../drivers/driver.js';
import { ExitCode, SkiffError, errorMessage } from '../errors.js';
import type { WatchSpec } from './watch/file-watch.js';

export const DEFAULT_REMOTE_SOCKET = '/var/run/docker.sock';

/** What one agent process serves, handed to it as a JSON file (`--spec FILE`). */
export interface AgentSpec {
  machine: string;
  sshHost: string;
  sshPort: number;
  user: string;
  /** The key to log in with; absent, or besides it, the SSH agent at sshAgent. */
  keyPath?: string;
  sshAgent?: string;
  hostPubPath: string;
  /**
   * A host skiff does not run (the ssh driver): its clock is its own, never set;
   * it may be far away, so its banner gets longer to arrive.
   */
  remoteHost?: boolean;
  /** Local unix socket the Docker API is served on. */
  socketPath: string;
  pidPath: string;
  statePath: string;
  logPath: string;
  /** The guest-side socket each client connection is forwarded to. */
  remoteSocket?: string;
  /** SSH keepalive; defaults 2000 ms and 10 (link.ts): a silently dead link is noticed in ~22 s. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** The VM this agent serves: once it is gone the agent records why (at vmEndPath) and exits. */
  vm?: VmWatch;
  vmEndPath?: string;
  /** The guest console log, whose last lines explain a VM's end. */
  consoleLog?: string;
  /** The log is rotated (to LOG.1) when it would grow past this; default 1 MiB. */
  logMaxBytes?: number;
  /** How to forward published UDP ports through the hypervisor's NAT. */
  udp?: UdpForwarding;
  /** Where to ask why the VM is paused, so one paused on a full host disk is resumed once there is space. */
  pause?: PauseControl;
  /** Host edits in these shares are replayed in the guest for file watchers in containers; absent: off. */
  watch?: WatchSpec;
  /**
   * Run in the guest each time the link comes up (agent/guest-mounts.ts): it
   * mounts the machine's shares not mounted yet, and prints the index of each
   * still missing. Absent: no shares.
   */
  mounts?: { command: string };
}

const absolute = z.string().min(1).refine((p) => path.isAbsolute(p), 'must be an absolute path');

const AgentSpecSchema = z.object({
  machine: z.string().min(1),
  sshHost: z.string().min(1),
  sshPort: z.number().int().min(1).max(65535),
  user: z.string().min(1),
  keyPath: absolute.optional(),
  sshAgent: absolute.optional(),
  hostPubPath: absolute,
  remoteHost: z.boolean().optional(),
  socketPath: absolute,
  pidPath: absolute,
  statePath: absolute,
  logPath: absolute,
  remoteSocket: absolute.optional(),
  keepaliveIntervalMs: z.number().int().min(100).optional(),
  keepaliveCountMax: z.number().int().min(1).optional(),
  vm: z
    .discriminatedUnion('kind', [
      z.object({
        kind: z.literal('process'),
        label: z.string().min(1),
        pid: z.number().int().min(1),
        startTime: z.string().min(1),
        pidFile: absolute,
        leftovers: z.array(absolute),
      }),
      z.object({ kind: z.literal('virtualbox'), vboxManage: z.string().min(1), vmName: z.string().min(1), uuid: z.string().min(1) }),
    ])
    .optional(),
  vmEndPath: absolute.optional(),
  consoleLog: absolute.optional(),
  logMaxBytes: z.number().int().min(256).optional(),
  udp: z
    .discriminatedUnion('kind', [
      z.object({ kind: z.literal('qemu'), qmpSocket: absolute, netdev: z.string().regex(/^[\w-]+$/) }),
      z.object({ kind: z.literal('virtualbox'), vboxmanage: z.string().min(1), vm: z.string().min(1) }),
    ])
    .optional(),
  pause: z
    .discriminatedUnion('kind', [
      z.object({ kind: z.literal('qemu'), qmpSocket: absolute, dataDisk: absolute }),
      z.object({ kind: z.literal('virtualbox'), vboxManage: z.string().min(1), vm: z.string().min(1), dataDisk: absolute }),
    ])
    .optional(),
  mounts: z.object({ command: z.string().min(1) }).optional(),
  watch: z
    .object({
      shares: z.array(z.object({ hostPath: absolute, guestPath: absolute })),
      exclude: z.array(absolute),
      maxWatches: z.number().int().min(1).optional(),
    })
    .optional(),
});

export function parseAgentSpec(value: unknown): AgentSpec {
  const r = AgentSpecSchema.refine((s) => s.keyPath !== undefined || s.sshAgent !== undefined, { message: 'needs keyPath or sshAgent', path: ['keyPath'] }).safeParse(value);
  if (!r.success) {
    const first = r.error.issues[0];
    const where = first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'invalid';
    throw new SkiffError('agent-spec-invalid', `invalid agent spec: ${where}`, {
      hint: 'this is a bug in skiff: report it with the spec file',
      exitCode: ExitCode.usage,
    });
  }
  return r.data;
}

export async function readAgentSpec(file: string): Promise<AgentSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new SkiffError('agent-spec-missing', `cannot read agent spec ${file}: ${errorMessage(e)}`, {
      exitCode: ExitCode.usage,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SkiffError('agent-spec-invalid', `agent spec ${file} is not JSON: ${errorMessage(e)}`, {
      exitCode: ExitCode.usage,
    });
  }
  return parseAgentSpec(json);
}

export { agentSpecPath } from './spec-path.js';
