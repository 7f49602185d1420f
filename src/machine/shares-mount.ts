import type { AgentLaunch } from '../agent/control.js';
import type { MountsStatus } from '../agent/guest-mounts.js';
import { readAgentState } from '../agent/state.js';
import type { Share, ShareFs } from '../drivers/driver.js';
import { SkiffError } from '../errors.js';
import type { Requirement } from '../util/wait.js';
import type { Machine } from './machine.js';
import { sharesFor } from './machine.js';
import { shQuote } from '../util/sh-quote.js';
import { shareMountFor, type ShareMount } from './shares.js';

export { NINEP_MOUNT, VIRTIOFS_MOUNT, shareMountFor } from './shares.js';

/**
 * virtiofs devices may still be binding in the guest right after they were
 * plugged in (a resume): wait, up to 10 s, until the driver has as many as there
 * are shares, so the mounts do not fail on a tag not there yet.
 */
export function virtiofsWaitCommand(count: number): string {
  return `modprobe virtiofs 2>/dev/null; n=0; while [ "$(ls -d /sys/bus/virtio/drivers/virtiofs/virtio* 2>/dev/null | wc -l)" -lt ${count} ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done`;
}

/**
 * A mount point sits on another device than its parent. (The guest's busybox has
 * no `mountpoint`; a missing path gives two empty strings: not mounted.)
 */
export const MOUNTED_FN = 'mounted() { [ "$(stat -c %d "$1" 2>/dev/null)" != "$(stat -c %d "$1/.." 2>/dev/null)" ]; }';

/**
 * The guest command that mounts the machine's shares: each one not mounted yet is
 * handed to the guest's mount script, every value its own shell-quoted argument
 * (so no path is ever split on spaces or colons). Parents mount before the shares
 * inside them. The last line prints the index of each share still not mounted.
 * The agent runs it each time its connection comes up, so a share added to the
 * config after the disk was seeded is mounted too.
 */
export function mountSharesCommand(shares: Share[], how: ShareMount): string {
  const depth = (p: string) => p.split('/').filter(Boolean).length;
  const ordered = [...shares].sort((a, b) => depth(a.guestPath) - depth(b.guestPath));
  const lines = ordered.map((s) => {
    const args = [how.fs, s.tag, s.readOnly ? 'ro' : 'rw', s.guestPath, ...(how.options ? [how.options] : [])];
    return `mounted ${shQuote(s.guestPath)} || /usr/lib/skiff/shares ${args.map(shQuote).join(' ')}`;
  });
  const check = shares.map((s, i) => `mounted ${shQuote(s.guestPath)} || echo ${i}`);
  const wait = how.fs === 'virtiofs' && shares.length > 0 ? [virtiofsWaitCommand(shares.length)] : [];
  return [MOUNTED_FN, ...wait, ...lines, ...check, 'true'].join('\n');
}

/** The agent's mount command (AgentSpec.mounts) for this machine's shares over `shareFs`; undefined without shares. */
export function mountCommandFor(m: Machine, shareFs: ShareFs | undefined): string | undefined {
  const shares = sharesFor(m.config);
  return shares.length === 0 ? undefined : mountSharesCommand(shares, shareMountFor(m.config.driver, shareFs));
}

/**
 * The shares are mounted: the agent that `agent` launched has run its mount
 * command (mountCommandFor) over its connection and recorded the outcome in its
 * state file. notMounted() then names the guest paths still missing.
 */
export function sharesMounted(m: Machine, agent: AgentLaunch): Requirement & { notMounted(): string[] } {
  const shares = sharesFor(m.config);
  let outcome: MountsStatus | undefined;
  return {
    stage: { name: 'shares', text: 'mounting the shared folders' },
    met: async () => {
      const state = await readAgentState(m.paths.agentState);
      if (state !== undefined && state.pid === agent.pid && state.mounts) outcome = state.mounts;
      return outcome !== undefined && outcome.error === undefined;
    },
    broken: async () =>
      outcome?.error === undefined
        ? undefined
        : new SkiffError('shares-failed', `mounting shared folders failed in the guest: ${outcome.error}`, {
            hint: 'see `skiff logs --console`; fix or remove the shares in the machine config',
          }),
    timedOut: async () =>
      new SkiffError('shares-timeout', `the shared folders of machine "${m.name}" were not mounted in time`, {
        hint: `see the agent log ${m.paths.agentLog}; the machine is left running`,
      }),
    pollMs: 50,
    notMounted: () => (outcome?.missing ?? []).flatMap((i) => (shares[i] ? [shares[i]!.guestPath] : [])),
  };
}
