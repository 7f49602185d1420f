import { agentRequirement, agentStatus, type AgentLaunch } from '../agent/control.js';
import { SkiffError } from '../errors.js';
import { machineFlag } from '../layout/paths.js';
import type { Progress } from '../progress.js';
import { waitFor, type Requirement } from '../util/wait.js';
import { followConsole } from './console-watch.js';
import { enginePing } from './engine.js';
import type { Machine } from './machine.js';

/**
 * When a started machine is ready, in one place. In order: the agent has
 * connected to the guest's sshd, then the Docker engine answers through the
 * agent's socket, then whatever `then` adds (the shares the agent mounts). One
 * loop waits for them against one deadline; after every miss the guest's
 * console is read (for the spinner's stages, and for a SKIFF-ERROR that ends
 * the wait at once), then the requirement's own "can it still come".
 */
export async function waitUntilReady(
  m: Machine,
  ui: Progress,
  agent: AgentLaunch,
  opts: { deadline: number; guest?: GuestConsole; onSshUp?: () => void; then?: Requirement[] },
): Promise<void> {
  let sshUp = false;
  const requirements: Requirement[] = [
    {
      ...agentRequirement(agent),
      onMet: () => {
        sshUp = true;
        opts.onSshUp?.();
      },
    },
    engineAnswers(m),
    ...(opts.then ?? []),
  ];
  const guest = opts.guest;
  try {
    await waitFor(requirements, { deadline: opts.deadline, onStage: (name, text) => ui.stage(name, text), ...(guest ? { guard: () => guest.failure() } : {}) });
  } catch (e) {
    // An agent that never connected is not left behind; one that did keeps serving a machine left running.
    if (!sshUp) await agent.abandon();
    throw e;
  }
}

/**
 * A running machine that needs nothing from `start`: its agent runs and the
 * engine answers through it. (The fast path, cli/fast-start.ts, asks the same
 * more cheaply, without loading the machine.)
 */
export async function serving(m: Machine): Promise<boolean> {
  return (await agentStatus(m.paths)).state === 'running' && (await enginePing(m.paths.dockerSocket));
}

function engineAnswers(m: Machine): Requirement {
  return {
    stage: { name: 'engine', text: 'waiting for the Docker engine' },
    met: () => enginePing(m.paths.dockerSocket, 2000),
    broken: async () =>
      (await m.driver.state()) !== 'running'
        ? new SkiffError('vm-died', `the VM of machine "${m.name}" stopped while starting`, { hint: 'see `skiff logs` for the guest console' })
        : undefined,
    timedOut: async () =>
      new SkiffError('start-timeout', `the Docker engine of machine "${m.name}" did not answer in time`, {
        hint: 'see `skiff logs`; the machine is left running, `skiff stop` stops it',
      }),
    pollMs: 150,
  };
}

const STAGE_TEXT: Record<string, string> = {
  init: 'guest init',
  modules: 'loading kernel modules',
  network: 'bringing up the network',
  disk: 'mounting the data disk',
  sshd: 'starting sshd',
  dockerd: 'starting the Docker engine',
};

/** What the booting guest says on its console (see iso/README.md), as the readiness loop reads it. */
export interface GuestConsole {
  /** Reports new stages; the guest's own error, once it printed one. */
  failure(): Promise<SkiffError | undefined>;
}

/** Opened before the VM starts, so only this boot's markers count. */
export async function watchGuest(m: Machine, ui: Progress): Promise<GuestConsole> {
  const console = await followConsole(m.paths.consoleLog);
  let failed: SkiffError | undefined;
  return {
    async failure() {
      for (const mk of await console.read()) {
        if (mk.kind === 'stage') ui.stage(mk.name, `guest: ${STAGE_TEXT[mk.name] ?? mk.name}`);
        else if (mk.kind === 'error') {
          failed = new SkiffError('guest-failed', `the guest failed to start: ${mk.what}: ${mk.message}`, {
            hint: `see the console log: skiff logs${machineFlag(m.name)}; the machine is left running so you can \`skiff ssh\` in`,
          });
        }
      }
      return failed;
    },
  };
}
