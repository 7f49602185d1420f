import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { joinNetwork } from '../../src/network/membership.js';
import { loadNetwork } from '../../src/network/store.js';
import { swarmRemove } from '../../src/swarm/down.js';
import { withSwarmLock } from '../../src/swarm/lock.js';
import { existingNodeCount } from '../../src/swarm/members.js';
import { swarmUp } from '../../src/swarm/up.js';
import { fakeMachine as makeFakeMachine } from '../helpers/fake-machine.js';

/** What `swarm up` and `swarm rm` decide from the files alone, before any VM is touched. */
let home: string;
beforeEach(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'skiff-swarmup-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

const fakeMachine = (name: string, network?: string) => makeFakeMachine(home, name, network);

function request(over: Partial<Parameters<typeof swarmUp>[0]> = {}) {
  let imageAsked = 0;
  const req = {
    home,
    swarm: 's',
    settings: {},
    resolveImage: async () => {
      imageAsked++;
      throw new Error('no image in this test');
    },
    progress: () => {},
    ...over,
  };
  return { req, asked: () => imageAsked };
}

async function machineDirs(): Promise<string[]> {
  return (await readdir(path.join(home, 'machines')).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
}

describe('swarm up: refusals before anything is created', () => {
  it('a node name taken by a machine on another network is refused before S-1 is created', async () => {
    await fakeMachine('s-2', 'other');
    const { req, asked } = request({ nodes: 2 });
    await expect(swarmUp(req)).rejects.toMatchObject({ code: 'not-in-swarm', message: expect.stringContaining('network "other"') });
    expect(asked()).toBe(0);
    expect(await machineDirs()).toEqual(['s-2']);
    expect(await loadNetwork(home, 's')).toBeUndefined();
  });

  it('a node name taken by a machine on no network is refused too', async () => {
    await fakeMachine('s-3');
    const { req, asked } = request({ nodes: 3 });
    await expect(swarmUp(req)).rejects.toMatchObject({ code: 'not-in-swarm' });
    expect(asked()).toBe(0);
    expect(await machineDirs()).toEqual(['s-3']);
  });

  it('--network other than the swarm is refused by swarmUp itself (the CLI stays thin)', async () => {
    const { req, asked } = request({ settings: { network: 'other' } });
    await expect(swarmUp(req)).rejects.toMatchObject({ code: 'invalid-settings', exitCode: 2 });
    expect(asked()).toBe(0);
    expect(await machineDirs()).toEqual([]);
  });

  it('--nodes smaller than the swarm is refused; without --nodes the swarm keeps its size', async () => {
    await fakeMachine('s-1', 's');
    await fakeMachine('s-2', 's');
    await fakeMachine('s-3', 's');
    expect(await existingNodeCount(home, 's')).toBe(3);
    const { req } = request({ nodes: 2 });
    await expect(swarmUp(req)).rejects.toMatchObject({ code: 'swarm-shrink', exitCode: 2, message: expect.stringContaining('would leave out s-3') });
    expect(await machineDirs()).toEqual(['s-1', 's-2', 's-3']);
  });
});

describe('existingNodeCount', () => {
  it('is the highest S-k among network members and machines; 0 for a new swarm', async () => {
    expect(await existingNodeCount(home, 's')).toBe(0);
    await joinNetwork(home, 's', 's-4'); // an address left by an interrupted init
    await fakeMachine('s-1', 's');
    await fakeMachine('s-10x'); // not a node name
    await fakeMachine('other-7');
    expect(await existingNodeCount(home, 's')).toBe(4);
    await fakeMachine('s-6'); // a machine named S-k counts even off the network (swarm up then refuses it)
    expect(await existingNodeCount(home, 's')).toBe(6);
  });
});

describe('swarm rm cleanup', () => {
  it('frees leftover addresses on the swarm network only, and removes it', async () => {
    await joinNetwork(home, 's', 's-3'); // leftover: no machine
    const kept = await joinNetwork(home, 't', 's-3');
    const r = await swarmRemove(home, 's');
    expect(r).toEqual({ machines: [], network: true });
    expect(await loadNetwork(home, 's')).toBeUndefined();
    expect((await loadNetwork(home, 't'))!.members).toEqual({ 's-3': kept.address });
  });
});

describe('withSwarmLock', () => {
  it('runs two holders of one swarm one after the other, and different swarms at once', async () => {
    const log: string[] = [];
    const hold = (swarm: string, tag: string) =>
      withSwarmLock(home, swarm, async () => {
        log.push(`${tag}+`);
        await new Promise((r) => setTimeout(r, 300));
        log.push(`${tag}-`);
      });
    await Promise.all([hold('s', 'a'), hold('s', 'b')]);
    expect([log.slice(0, 2), log.slice(2)].map((p) => p[0]!.slice(0, 1) === p[1]!.slice(0, 1))).toEqual([true, true]);
    log.length = 0;
    await Promise.all([hold('s', 'a'), hold('t', 'b')]);
    expect(log.slice(0, 2).sort()).toEqual(['a+', 'b+']);
  });

  it('releases the lock when the work fails', async () => {
    await expect(withSwarmLock(home, 's', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await withSwarmLock(home, 's', async () => 'again', { waitMs: 1000 })).toBe('again');
  });
});
