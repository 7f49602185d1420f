import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../util/atomic-file.js';
import { shQuote } from '../../util/sh-quote.js';
import { waitUntil } from '../../util/wait.js';
import type { SavedState } from '../driver.js';

/**
 * A QEMU machine's saved state (skiff suspend): QEMU's migration stream in one
 * file, and a record of what it belongs to. QEMU loads a stream into whatever
 * VM it is given, so the record is what keeps a state from being loaded into
 * other hardware, over another image, or over a data disk that changed since.
 */

export interface SavedStateFiles {
  /** The migration stream, compressed per the record's format. */
  state: string;
  record: string;
  /** Written while QEMU saves; renamed to `state` only once the record is safe. */
  partial: string;
}

export function savedStateFiles(driverDir: string): SavedStateFiles {
  const dir = path.resolve(driverDir);
  return {
    state: path.join(dir, 'saved-state'),
    record: path.join(dir, 'saved-state.json'),
    partial: path.join(dir, 'saved-state.partial'),
  };
}

const FileStampSchema = z.object({ size: z.number(), mtimeMs: z.number(), ino: z.number() });
export type FileStamp = z.infer<typeof FileStampSchema>;

const SavedRecordSchema = z.object({
  version: z.literal(1),
  savedAt: z.string(),
  format: z.enum(['zstd', 'raw']),
  sizeBytes: z.number().int().nonnegative(),
  /**
   * A raw stream's, hashed while QEMU reads it. A zstd stream has none: zstd
   * checks its own frame checksum as it loads (loadCommand), at no extra cost.
   */
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  qemu: z.object({ binary: z.string(), version: z.string() }),
  /** The saved VM's command line, with what changes at every start blanked (normalizeArgv). */
  argv: z.array(z.string()),
  /** Files the VM had open, stamped after QEMU closed them: any change since makes the state a lie. */
  files: z.record(z.string(), FileStampSchema),
});
export type SavedRecord = z.infer<typeof SavedRecordSchema>;

export type StateFormat = SavedRecord['format'];

/**
 * The shell commands QEMU's exec: migration runs (through /bin/sh). zstd -1 with
 * two threads saved a 2 GiB TCG guest in ~1.3 s to ~190 MB here; loading, zstd's
 * -T2 (which turns on its asynchronous I/O) fed QEMU 3x faster than plain -d
 * through the pipe (bench/suspend.mjs compares them). Without zstd the stream is
 * written as it is: larger, as fast to load from a warm page cache.
 */
export function saveCommand(file: string, zstd: string | undefined): string {
  // umask: the state holds the guest's memory, keys and all; the user alone may read it.
  // The marker: QEMU can call a save complete before it knows how the writer
  // ended (a disk filling as the last block is written); the writer's success is
  // its own file.
  const write = zstd ? `${shQuote(zstd)} -q -1 -T2 -f -o ${shQuote(file)}` : `cat > ${shQuote(file)}`;
  return `umask 077 && ${write} && : > ${shQuote(doneMarker(file))}`;
}

/** Written by saveCommand once the stream is whole on disk. */
export function doneMarker(file: string): string {
  return `${file}.done`;
}

/**
 * zstd verifies its frame checksum only after it has written the last block, so
 * QEMU can call a load complete before zstd knows the stream was whole: its exit
 * status, left in loadedMarker, is the verdict.
 */
export function loadCommand(file: string, zstd: string | undefined): string {
  return zstd ? `${shQuote(zstd)} -dcq -T2 ${shQuote(file)}; echo $? > ${shQuote(loadedMarker(file))}` : `cat ${shQuote(file)}`;
}

/** Written by loadCommand with zstd's exit status. */
export function loadedMarker(file: string): string {
  return `${file}.loaded`;
}

/**
 * What zstd said of the stream it fed QEMU: 'intact', 'damaged' (its checksum
 * or framing failed, exit 1), or what else ended it (a signal: QEMU stopped
 * reading for a reason of its own).
 */
export async function zstdVerdict(file: string, timeoutMs = 10_000): Promise<string> {
  const code = await waitUntil(
    async () => {
      const text = await readFile(loadedMarker(file), 'utf8').catch(() => '');
      return text.endsWith('\n') ? Number(text.trim()) : undefined;
    },
    { timeoutMs, intervalMs: 10 },
  );
  if (code === undefined) return `zstd did not finish within ${timeoutMs / 1000} s`;
  return code === 0 ? 'intact' : code === 1 ? 'damaged' : `zstd ended with status ${code}`;
}

/**
 * Starts checking a saved stream as QEMU is about to load it; the result says
 * 'intact', 'damaged', or what else went wrong. A raw stream is hashed alongside
 * the load. A zstd stream's own checksum is zstd's to check (zstdVerdict); when
 * QEMU quit reading first (it choked on the bytes a damaged block decoded to, and
 * zstd died of SIGPIPE), `zstd -t` reads the file once more to tell.
 */
export function integrityCheck(file: string, rec: SavedRecord, zstd: string | undefined): (timeoutMs?: number) => Promise<string> {
  if (rec.format === 'zstd' && zstd !== undefined) {
    return async (timeoutMs) => {
      const verdict = await zstdVerdict(file, timeoutMs);
      if (verdict === 'intact' || verdict === 'damaged') return verdict;
      return (await zstdTestPasses(zstd, file)) ? verdict : 'damaged';
    };
  }
  const hashing = sha256File(file).catch(() => '');
  return async () => ((await hashing) === rec.sha256 ? 'intact' : 'damaged');
}

function zstdTestPasses(zstd: string, file: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(zstd, ['-tq', '--', file], (err) => resolve(err === null));
  });
}

/**
 * The command line with what legitimately differs between two runs of the same
 * VM blanked (the SSH port skiff picks at each start) and what only the loading
 * run has dropped (-incoming, -S): two runs are the same VM when these match.
 */
export function normalizeArgv(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-incoming') {
      i++;
      continue;
    }
    if (a === '-S') continue;
    out.push(a.replace(/(hostfwd=tcp:127\.0\.0\.1:)\d+(-:22)/, '$1*$2'));
  }
  return out;
}

export async function stampOf(file: string): Promise<FileStamp | undefined> {
  try {
    const s = await stat(file);
    return { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino };
  } catch {
    return undefined;
  }
}

export async function stampAll(files: Record<string, string>): Promise<Record<string, FileStamp>> {
  const out: Record<string, FileStamp> = {};
  for (const [key, file] of Object.entries(files)) {
    const s = await stampOf(file);
    if (s) out[key] = s;
  }
  return out;
}

/** What the machine is now, to hold a record against. */
export interface CurrentVm {
  qemu: { binary: string; version: string };
  argv: string[];
  files: Record<string, FileStamp>;
}

const FILE_NAMES: Record<string, string> = {
  dataDisk: 'the data disk',
  iso: 'the guest image',
  kernel: "the image's kernel",
  initrd: "the image's initrd",
};

/**
 * Why the record does not fit the machine as it is now (one phrase), or undefined
 * when it does. Files before the command line: a new image changes both, and
 * naming the image says more than naming a -drive option.
 */
export function mismatch(rec: SavedRecord, now: CurrentVm): string | undefined {
  if (rec.qemu.binary !== now.qemu.binary || rec.qemu.version !== now.qemu.version) {
    return `was saved by QEMU ${rec.qemu.version} (${rec.qemu.binary}), and this is QEMU ${now.qemu.version} (${now.qemu.binary})`;
  }
  for (const [key, s] of Object.entries(rec.files)) {
    const cur = now.files[key];
    if (!cur || cur.size !== s.size || cur.mtimeMs !== s.mtimeMs || cur.ino !== s.ino) {
      return `no longer matches ${FILE_NAMES[key] ?? key}, which changed after the save`;
    }
  }
  const was = normalizeArgv(rec.argv);
  const is = normalizeArgv(now.argv);
  const n = Math.max(was.length, is.length);
  for (let i = 0; i < n; i++) {
    if (was[i] !== is[i]) return `was saved with other VM settings (${was[i] ?? '(nothing)'} then, ${is[i] ?? '(nothing)'} now)`;
  }
  return undefined;
}

export async function readSavedRecord(file: string): Promise<SavedRecord | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const r = SavedRecordSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export async function writeSavedRecord(file: string, rec: SavedRecord): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
}

/**
 * The saved state as `status` shows it: only a state file with its record
 * counts (a record alone is the end of a torn save, a state file alone one that
 * was never finished).
 */
export async function savedStateOf(files: SavedStateFiles): Promise<SavedState | undefined> {
  const rec = await readSavedRecord(files.record);
  const s = await stampOf(files.state);
  return rec && s ? { savedAt: rec.savedAt, sizeBytes: s.size } : undefined;
}

/** The state first: a record without its state file is ignored, never the other way round. */
export async function removeSavedState(files: SavedStateFiles): Promise<void> {
  await rm(files.state, { force: true });
  await rm(files.partial, { force: true });
  await rm(doneMarker(files.partial), { force: true });
  await rm(loadedMarker(files.state), { force: true });
  await rm(files.record, { force: true });
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}
