import { createReadStream, createWriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { ExitCode, SkiffError } from '../errors.js';

/**
 * A small read-only ISO9660 reader: enough to pull the kernel, initrd and a few
 * text files out of the guest image without root, loop mounts or external tools.
 * Only the plain ISO9660 tree is read (no Rock Ridge, no Joliet), so names are
 * matched case-insensitively, ignoring the ";1" version and a trailing ".".
 */

const SECTOR = 2048;
const FIRST_DESCRIPTOR_LBA = 16;
// A real image ends its descriptor set long before this; it bounds a corrupt one.
const MAX_DESCRIPTORS = 64;

export interface IsoEntry {
  /** The name as recorded, without ";1" and a trailing ".". */
  name: string;
  isDir: boolean;
  /** Byte offset of the data in the image. */
  offset: number;
  size: number;
}

export class Iso9660 {
  private constructor(
    private readonly file: string,
    private readonly fh: FileHandle,
    private readonly imageSize: number,
    private readonly blockSize: number,
    private readonly root: IsoEntry,
  ) {}

  static async open(file: string): Promise<Iso9660> {
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new SkiffError('iso-unreadable', `cannot read ISO image ${file}: ${code ?? String(e)}`, {
        hint: 'check that the image exists and is readable, or fetch it again',
        exitCode: code === 'ENOENT' ? ExitCode.notFound : ExitCode.failure,
        cause: e,
      });
    }
    try {
      const { size } = await fh.stat();
      const notIso = (why: string) =>
        new SkiffError('iso-invalid', `${file} is not an ISO image (${why})`, {
          hint: 'the image is damaged or not a skiff guest image: fetch or build it again',
        });
      for (let i = 0; i < MAX_DESCRIPTORS; i++) {
        const lba = FIRST_DESCRIPTOR_LBA + i;
        const d = await readExact(fh, lba * SECTOR, SECTOR);
        if (d === undefined) throw notIso(i === 0 ? 'too short for a volume descriptor' : 'truncated volume descriptors');
        if (d.toString('latin1', 1, 6) !== 'CD001') throw notIso(`no ISO9660 volume descriptor at sector ${lba}`);
        const type = d[0];
        if (type === 255) throw notIso('no primary volume descriptor');
        if (type !== 1) continue;
        const blockSize = d.readUInt16LE(128);
        if (blockSize !== 2048 && blockSize !== 1024 && blockSize !== 512) throw notIso(`bad logical block size ${blockSize}`);
        const root = parseRecord(d.subarray(156, 156 + 34), blockSize);
        if (root === undefined || !root.isDir) throw notIso('bad root directory record');
        return new Iso9660(file, fh, size, blockSize, root);
      }
      throw notIso('no primary volume descriptor');
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  /** Looks up "/boot/vmlinuz" etc.; undefined when any component is missing. */
  async stat(isoPath: string): Promise<IsoEntry | undefined> {
    const parts = isoPath.split('/').filter((p) => p !== '');
    let cur = this.root;
    for (const part of parts) {
      if (!cur.isDir) return undefined;
      const entries = await this.readDir(cur);
      const want = normalize(part);
      const next = entries.find((e) => normalize(e.name) === want);
      if (next === undefined) return undefined;
      cur = next;
    }
    return cur;
  }

  async readDir(dir: IsoEntry): Promise<IsoEntry[]> {
    const data = await this.readExtent(dir);
    const out: IsoEntry[] = [];
    let pos = 0;
    while (pos < data.length) {
      const len = data[pos] ?? 0;
      if (len === 0) {
        // Records never cross a sector: a zero length pads to the next one.
        pos = (Math.floor(pos / this.blockSize) + 1) * this.blockSize;
        continue;
      }
      if (len < 34 || pos + len > data.length) throw this.corrupt(`bad directory record at byte ${dir.offset + pos}`);
      const rec = parseRecord(data.subarray(pos, pos + len), this.blockSize);
      if (rec === undefined) throw this.corrupt(`bad directory record at byte ${dir.offset + pos}`);
      // "\0" and "\1" are the "." and ".." entries.
      if (rec.name !== '\0' && rec.name !== '\u0001') out.push(rec);
      pos += len;
    }
    return out;
  }

  /** Reads a small file whole; refuses anything larger than maxBytes. */
  async readFile(isoPath: string, maxBytes = 1024 * 1024): Promise<Buffer> {
    const e = await this.require(isoPath);
    if (e.size > maxBytes) throw this.corrupt(`${isoPath} is ${e.size} bytes, more than the ${maxBytes} expected`);
    return this.readExtent(e);
  }

  /** Streams a file to `dest` (created or truncated): the initrd is tens of MB. */
  async extractFile(isoPath: string, dest: string, mode = 0o644): Promise<void> {
    const e = await this.require(isoPath);
    this.checkInside(e);
    const out = createWriteStream(dest, { mode });
    if (e.size === 0) {
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      return;
    }
    await pipeline(createReadStream(this.file, { start: e.offset, end: e.offset + e.size - 1 }), out);
  }

  private async require(isoPath: string): Promise<IsoEntry> {
    const e = await this.stat(isoPath);
    if (e === undefined || e.isDir) {
      throw new SkiffError('iso-missing-file', `ISO image ${this.file} has no file ${isoPath}`, {
        hint: 'the image is not a skiff guest image or is damaged: fetch or build it again',
      });
    }
    return e;
  }

  private async readExtent(e: IsoEntry): Promise<Buffer> {
    this.checkInside(e);
    const b = await readExact(this.fh, e.offset, e.size);
    if (b === undefined) throw this.corrupt(`short read at byte ${e.offset}`);
    return b;
  }

  private checkInside(e: IsoEntry): void {
    if (e.offset + e.size > this.imageSize) {
      throw this.corrupt(`"${e.name}" extends past the end of the file (truncated image?)`);
    }
  }

  private corrupt(why: string): SkiffError {
    return new SkiffError('iso-invalid', `ISO image ${this.file} is corrupt: ${why}`, {
      hint: 'the image is damaged or truncated: fetch or build it again',
    });
  }
}

function normalize(name: string): string {
  return name.replace(/;\d*$/, '').replace(/\.$/, '').toLowerCase();
}

function parseRecord(r: Buffer, blockSize: number): IsoEntry | undefined {
  if (r.length < 34) return undefined;
  const lba = r.readUInt32LE(2);
  const size = r.readUInt32LE(10);
  const flags = r[25] ?? 0;
  const nameLen = r[32] ?? 0;
  if (33 + nameLen > r.length) return undefined;
  const raw = r.toString('latin1', 33, 33 + nameLen);
  const name = raw === '\0' || raw === '\u0001' ? raw : raw.replace(/;\d*$/, '').replace(/\.$/, '');
  return { name, isDir: (flags & 0x02) !== 0, offset: lba * blockSize, size };
}

async function readExact(fh: FileHandle, position: number, length: number): Promise<Buffer | undefined> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) return undefined;
    done += bytesRead;
  }
  return buf;
}
