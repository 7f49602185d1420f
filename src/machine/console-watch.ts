import { open } from 'node:fs/promises';

/** A readiness marker the guest prints on its serial console (see iso/README.md). */
export type ConsoleMarker =
  | { kind: 'stage'; name: string; uptime: number }
  | { kind: 'ready'; uptime: number }
  | { kind: 'error'; what: string; message: string }
  | { kind: 'poweroff'; uptime: number };

export function parseMarker(line: string): ConsoleMarker | undefined {
  // A marker may follow kernel output on the same line, so it is searched for, not anchored.
  const l = line.replace(/\r$/, '');
  let m = /SKIFF-STAGE (\S+) ([\d.]+)/.exec(l);
  if (m) return { kind: 'stage', name: m[1]!, uptime: Number(m[2]) };
  m = /SKIFF-READY ([\d.]+)/.exec(l);
  if (m) return { kind: 'ready', uptime: Number(m[1]) };
  m = /SKIFF-ERROR (\S+) ?(.*)$/.exec(l);
  if (m) return { kind: 'error', what: m[1]!, message: m[2] ?? '' };
  m = /SKIFF-POWEROFF ([\d.]+)/.exec(l);
  if (m) return { kind: 'poweroff', uptime: Number(m[1]) };
  return undefined;
}

/**
 * Reads the markers the guest has written to its console log since the last
 * read. Reading a file is portable (QEMU and VirtualBox both just append to it);
 * the readiness loop reads it on each of its turns. The first read, at open,
 * skips whatever the file holds then, so a marker of the previous boot (an old
 * SKIFF-ERROR) is never taken for this one's; a file replaced (new inode) or
 * truncated by the hypervisor is read from its start.
 */
export async function followConsole(file: string): Promise<{ read(): Promise<ConsoleMarker[]> }> {
  let offset: number | undefined;
  let inode: number | undefined;
  let partial = '';
  const read = async (): Promise<ConsoleMarker[]> => {
    const markers: ConsoleMarker[] = [];
    try {
      const fh = await open(file, 'r');
      try {
        const { size, ino } = await fh.stat();
        if (offset === undefined) offset = size; // first look: the previous boot's text
        else if (ino !== inode || size < offset) offset = 0; // rotated or truncated: a new boot
        inode = ino;
        if (size > offset) {
          const buf = Buffer.alloc(size - offset);
          const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
          offset += bytesRead;
          const lines = (partial + buf.subarray(0, bytesRead).toString('utf8')).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) {
            const m = parseMarker(line);
            if (m) markers.push(m);
          }
        }
      } finally {
        await fh.close();
      }
    } catch {
      // Not there yet: the hypervisor creates it as it boots.
      if (offset === undefined) offset = 0;
    }
    return markers;
  };
  await read();
  return { read };
}
