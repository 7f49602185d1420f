import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../util/atomic-file.js';
import type { MachineSpec } from '../driver.js';

/**
 * What a VirtualBox machine's saved state (skiff suspend, `controlvm savestate`)
 * belongs to. VirtualBox keeps the state itself (a .sav file in the VM's
 * Snapshots folder, VMStateFile in showvminfo) and resumes it at the next
 * `startvm`; it does not know what skiff's config says the machine is now. This
 * record, written before the save, is what keeps a state from being resumed after
 * the config was edited, the image changed or VirtualBox was upgraded.
 */
const RecordSchema = z.object({
  version: z.literal(1),
  /** The VM the state was saved from: a VM made again under the same name is another VM. */
  uuid: z.string(),
  /** `VBoxManage --version` as printed: a state is only loaded by the VirtualBox that wrote it. */
  vbox: z.string(),
  cpus: z.number().int(),
  memoryMiB: z.number().int(),
  iso: z.object({ path: z.string(), size: z.number(), mtimeMs: z.number(), ino: z.number() }),
  shares: z.array(z.object({ tag: z.string(), hostPath: z.string(), guestPath: z.string(), readOnly: z.boolean() })),
  privateNic: z.object({ mac: z.string(), intnet: z.string() }).nullable(),
  binfmt: z.boolean(),
  recordedAt: z.string(),
});
export type SavedRecord = z.infer<typeof RecordSchema>;

export function recordFile(driverDir: string): string {
  return path.join(path.resolve(driverDir), 'saved-state.json');
}

/** What the machine is now (its spec, the VirtualBox found), in the record's terms. */
export async function currentRecord(spec: MachineSpec, uuid: string, vbox: string): Promise<SavedRecord> {
  const iso = path.resolve(spec.isoPath);
  const s = await stat(iso).catch(() => undefined);
  return {
    version: 1,
    uuid,
    vbox,
    cpus: spec.cpus,
    memoryMiB: spec.memoryMiB,
    iso: { path: iso, size: s?.size ?? -1, mtimeMs: s?.mtimeMs ?? -1, ino: s?.ino ?? -1 },
    shares: spec.shares.map((sh) => ({ tag: sh.tag, hostPath: path.resolve(sh.hostPath), guestPath: sh.guestPath, readOnly: sh.readOnly })),
    privateNic: spec.privateNic ? { mac: spec.privateNic.mac.toLowerCase(), intnet: spec.privateNic.intnet } : null,
    binfmt: spec.binfmt ?? false,
    recordedAt: new Date().toISOString(),
  };
}

/** Why a state recorded as `was` cannot be resumed into the machine as it is `now` (one phrase), or undefined when it can. */
export function mismatch(was: SavedRecord, now: SavedRecord): string | undefined {
  if (was.uuid !== now.uuid) return 'belongs to another VirtualBox VM of the same name';
  if (was.vbox !== now.vbox) return `was saved by VirtualBox ${was.vbox}, and this is VirtualBox ${now.vbox}`;
  const setting = (what: string, a: unknown, b: unknown) => `was saved with other VM settings (${what} ${String(a)} then, ${String(b)} now)`;
  if (was.cpus !== now.cpus) return setting('cpus', was.cpus, now.cpus);
  if (was.memoryMiB !== now.memoryMiB) return setting('memory MiB', was.memoryMiB, now.memoryMiB);
  if (was.binfmt !== now.binfmt) return setting('binfmt', was.binfmt, now.binfmt);
  const nic = (n: SavedRecord['privateNic']) => (n ? `${n.intnet} ${n.mac}` : 'none');
  if (nic(was.privateNic) !== nic(now.privateNic)) return setting('private network', nic(was.privateNic), nic(now.privateNic));
  const shares = (r: SavedRecord) => r.shares.map((s) => `${s.hostPath}:${s.guestPath}${s.readOnly ? ':ro' : ''}`).join(',') || 'none';
  if (shares(was) !== shares(now)) return setting('shares', shares(was), shares(now));
  const a = was.iso;
  const b = now.iso;
  if (a.path !== b.path || a.size !== b.size || a.mtimeMs !== b.mtimeMs || a.ino !== b.ino) return 'no longer matches the guest image, which changed after the save';
  return undefined;
}

export async function readRecord(driverDir: string): Promise<SavedRecord | undefined> {
  let text: string;
  try {
    text = await readFile(recordFile(driverDir), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const r = RecordSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a record file is there at all, readable or not (a torn one still says a suspend began). */
export async function recordExists(driverDir: string): Promise<boolean> {
  return stat(recordFile(driverDir)).then(
    () => true,
    () => false,
  );
}

export async function writeRecord(driverDir: string, rec: SavedRecord): Promise<void> {
  await writeFileAtomic(recordFile(driverDir), JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
}

export async function removeRecord(driverDir: string): Promise<void> {
  await rm(recordFile(driverDir), { force: true });
}

/**
 * VMStateChangeTime as VBoxManage prints it (RTTimeSpecToString: UTC, nanoseconds,
 * with or without a trailing Z) as an ISO time; undefined when it is not one.
 */
export function isoTime(vboxTime: string | undefined): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z?$/.exec(vboxTime ?? '');
  if (!m) return undefined;
  const d = new Date(`${m[1]}.${(m[2] ?? '').padEnd(3, '0').slice(0, 3)}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}
