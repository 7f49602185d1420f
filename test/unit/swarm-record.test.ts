import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAdvertiseAddr, parseMachineList } from '../../src/swarm/machine-list.js';
import { listSwarmRecords, loadSwarmRecord, removeSwarmRecord, saveSwarmRecord, swarmsDir, type SwarmRecord } from '../../src/swarm/record.js';

describe('parseMachineList', () => {
  it('keeps the order (the first is the manager), trimming spaces', () => {
    expect(parseMachineList('a,b, c')).toEqual(['a', 'b', 'c']);
    expect(parseMachineList('solo')).toEqual(['solo']);
  });

  it.each([
    ['', /at least one machine/],
    [',', /at least one machine/],
    ['a,,b', /has an empty name/],
    ['a,Bad', /invalid machine name "Bad"/],
    ['a,b,a', /names "a" twice/],
  ])('refuses %j', (text, message) => {
    expect(() => parseMachineList(text)).toThrow(expect.objectContaining({ exitCode: 2, message: expect.stringMatching(message) }));
  });
});

describe('parseAdvertiseAddr', () => {
  it('takes an IPv4 address only', () => {
    expect(parseAdvertiseAddr('192.168.1.20')).toBe('192.168.1.20');
    for (const bad of ['eth0', '192.168.1.300', '::1', '192.168.1.20:2377', '']) {
      expect(() => parseAdvertiseAddr(bad)).toThrow(expect.objectContaining({ code: 'invalid-advertise-address', exitCode: 2 }));
    }
  });
});

describe('swarm record (swarms/NAME.yaml)', () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'skiff-swarmrec-'));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });
  const rec: SwarmRecord = {
    version: 1,
    name: 'lab',
    machines: ['a', 'b'],
    addresses: { manager: '198.18.0.2', workers: { b: '198.18.0.3' } },
    createdAt: '2026-12-04T07:00:00.000Z',
  };

  it('round-trips, keeps the order, and is readable by the user alone', async () => {
    await saveSwarmRecord(home, rec);
    expect(await loadSwarmRecord(home, 'lab')).toEqual(rec);
    const file = path.join(swarmsDir(home), 'lab.yaml');
    expect((await readFile(file, 'utf8')).startsWith('# skiff swarm of existing machines')).toBe(true);
    expect((await import('node:fs')).statSync(file).mode & 0o777).toBe(0o600);
    // Atomic: no temp file stays beside it.
    expect(await readdir(swarmsDir(home))).toEqual(['lab.yaml']);
    expect((await listSwarmRecords(home)).map((r) => r.name)).toEqual(['lab']);
    await removeSwarmRecord(home, 'lab');
    expect(await loadSwarmRecord(home, 'lab')).toBeUndefined();
    expect(await listSwarmRecords(home)).toEqual([]);
  });

  it('without addresses (none chosen yet) is valid', async () => {
    const { addresses: _, ...bare } = rec;
    await saveSwarmRecord(home, bare);
    expect(await loadSwarmRecord(home, 'lab')).toEqual(bare);
  });

  it.each([
    ['machines: [a, a]', /must not repeat a machine/],
    ['machines: []', /machines/],
    ['machines: [a, "../x"]', /must be a machine name/],
    ['machines: [a]\naddresses: { manager: "nope" }', /addresses.manager: must be an IPv4 address/],
    ['machines: [a]\nextra: 1', /Unrecognized key/],
    ['machines: [a', /is corrupt/],
  ])('a hand-edited file with %j is one clear "corrupt" error', async (body, why) => {
    await mkdir(swarmsDir(home), { recursive: true });
    await writeFile(path.join(swarmsDir(home), 'lab.yaml'), `version: 1\nname: lab\ncreatedAt: x\n${body}\n`);
    await expect(loadSwarmRecord(home, 'lab')).rejects.toMatchObject({ code: 'swarm-record-corrupt', exitCode: 5, message: expect.stringMatching(why) });
  });

  it('a file that names another swarm is corrupt', async () => {
    await saveSwarmRecord(home, rec);
    await writeFile(path.join(swarmsDir(home), 'other.yaml'), await readFile(path.join(swarmsDir(home), 'lab.yaml')));
    await expect(loadSwarmRecord(home, 'other')).rejects.toThrow(/names swarm "lab"/);
  });
});
