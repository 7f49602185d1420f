import { describe, expect, it } from 'vitest';
import { SkiffError } from '../../src/errors.js';
import { waitFor, type Requirement } from '../../src/util/wait.js';

/** A requirement met on its `after`-th look, recording what the loop did. */
function req(name: string, after: number, log: string[], extra: Partial<Requirement> = {}): Requirement {
  let looks = 0;
  return {
    stage: { name, text: `waiting for ${name}` },
    met: async () => {
      log.push(`met? ${name}`);
      return ++looks >= after;
    },
    timedOut: async () => new SkiffError(`${name}-timeout`, `${name} did not come`, { hint: `look at ${name}` }),
    onMet: () => log.push(`met ${name}`),
    pollMs: 1,
    ...extra,
  };
}

describe('waitFor (the readiness loop)', () => {
  it('waits for each requirement in order, entering its stage and running its onMet', async () => {
    const log: string[] = [];
    await waitFor([req('agent', 2, log), req('engine', 1, log)], { deadline: Date.now() + 5_000, onStage: (n) => log.push(`stage ${n}`) });
    expect(log).toEqual(['stage agent', 'met? agent', 'met? agent', 'met agent', 'stage engine', 'met? engine', 'met engine']);
  });

  it('a miss asks the shared guard before the requirement\'s own broken(), and either ends the wait', async () => {
    const log: string[] = [];
    const guest = new SkiffError('guest-failed', 'the guest failed');
    const broken = async () => new SkiffError('vm-died', 'the VM stopped');
    await expect(waitFor([req('engine', 99, log, { broken })], { deadline: Date.now() + 5_000, guard: async () => guest })).rejects.toBe(guest);
    await expect(waitFor([req('engine', 99, log, { broken })], { deadline: Date.now() + 5_000, guard: async () => undefined })).rejects.toMatchObject({ code: 'vm-died' });
  });

  it('at the one deadline, the requirement still unmet says why, with its own hint', async () => {
    const log: string[] = [];
    const err = await waitFor([req('agent', 1, log), req('engine', 1e9, log)], { deadline: Date.now() + 30 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'engine-timeout', hint: 'look at engine' });
    expect(log).toContain('met agent');
  });

  it('a requirement that throws (what it waits for died) ends the wait with that error', async () => {
    const died = new SkiffError('agent-failed', 'the agent stopped');
    const r: Requirement = { met: async () => Promise.reject(died), timedOut: async () => new SkiffError('x', 'x'), pollMs: 1 };
    await expect(waitFor([r], { deadline: Date.now() + 5_000 })).rejects.toBe(died);
  });
});
