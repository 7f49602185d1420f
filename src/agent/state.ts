import { readFile } from 'node:fs/promises';
import { writeFileAtomic, writeFileAtomicSync } from '../util/atomic-file.js';
import type { MountsStatus } from './guest-mounts.js';
import type { PortStatus } from './ports/listeners.js';
import type { FileWatchStatus } from './watch/file-watch.js';

export type LinkState = 'connecting' | 'connected' | 'reconnecting' | 'failed';

/** The agent's state file: what `skiff status` and `startAgent` read. */
export interface AgentState {
  pid: number;
  machine: string;
  state: LinkState;
  /** ISO time the current state began. */
  since: string;
  lastError?: string;
  /** Client connections accepted on the socket since the agent started. */
  connectionsServed: number;
  connectionsActive: number;
  /** Container ports published on the host's 127.0.0.1 (absent in files of older agents). */
  ports?: PortStatus[];
  /** Host edits replayed in the guest for file watchers (absent: watching is off, or an older agent). */
  watch?: FileWatchStatus;
  /** The shares' last mount over this agent's connection (absent: no shares, or not done yet). */
  mounts?: MountsStatus;
}

export async function writeAgentState(file: string, state: AgentState): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(state) + '\n', { mode: 0o600 });
}

export function writeAgentStateSync(file: string, state: AgentState): void {
  writeFileAtomicSync(file, JSON.stringify(state) + '\n', { mode: 0o600 });
}

export async function readAgentState(file: string): Promise<AgentState | undefined> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as unknown;
    if (typeof v === 'object' && v !== null && typeof (v as AgentState).pid === 'number') return v as AgentState;
    return undefined;
  } catch {
    return undefined;
  }
}
