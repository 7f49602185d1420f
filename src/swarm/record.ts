import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ExitCode, SkiffError } from '../errors.js';
import { ipv4Field, machineNameField, networkNameField } from '../network/fields.js';
import { loadAllNamed, loadNamedYaml } from '../util/named-yaml.js';
import { writeYamlFile } from '../util/yaml-file.js';

/**
 * A swarm made of machines that existed before it (`swarm up --machines`): no
 * network names its members, so this file does (swarms/NAME.yaml).
 */
export const SwarmRecordSchema = z
  .object({
    version: z.literal(1),
    name: networkNameField,
    /** Manager first. */
    machines: z
      .array(machineNameField)
      .min(1)
      .refine((ms) => new Set(ms).size === ms.length, 'must not repeat a machine'),
    /** What was chosen when the swarm was made; absent until a node had to init or join. */
    addresses: z
      .object({
        manager: ipv4Field,
        workers: z.record(machineNameField, ipv4Field).default({}),
      })
      .optional(),
    createdAt: z.string(),
  })
  .strict();
export type SwarmRecord = z.infer<typeof SwarmRecordSchema>;

export function swarmsDir(home: string): string {
  return path.join(home, 'swarms');
}

function recordFile(home: string, name: string): string {
  return path.join(swarmsDir(home), `${name}.yaml`);
}

export async function loadSwarmRecord(home: string, name: string): Promise<SwarmRecord | undefined> {
  const file = recordFile(home, name);
  const broken = (why: string) =>
    new SkiffError('swarm-record-corrupt', `the record of swarm "${name}" (${file}) is corrupt: ${why}`, {
      hint: 'fix it by hand, or delete the file (the machines are not affected)',
      exitCode: ExitCode.environment,
    });
  return loadNamedYaml(file, name, SwarmRecordSchema, broken, 'swarm');
}

export async function saveSwarmRecord(home: string, rec: SwarmRecord): Promise<void> {
  await mkdir(swarmsDir(home), { recursive: true, mode: 0o700 });
  await writeYamlFile(recordFile(home, rec.name), 'skiff swarm of existing machines; written by skiff swarm up, removed by swarm rm.', SwarmRecordSchema, rec);
}

export async function removeSwarmRecord(home: string, name: string): Promise<void> {
  await rm(recordFile(home, name), { force: true });
}

export function listSwarmRecords(home: string): Promise<SwarmRecord[]> {
  return loadAllNamed(swarmsDir(home), (name) => loadSwarmRecord(home, name));
}
