import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

/** Builds an ISO9660 image holding `files` (ISO path → content) with xorriso. */
export async function makeIso(workDir: string, files: Record<string, string | Buffer>, extraArgs: string[] = []): Promise<string> {
  const root = path.join(workDir, 'iso-root');
  for (const [p, content] of Object.entries(files)) {
    const dest = path.join(root, p);
    await mkdir(path.dirname(dest), { recursive: true });
    await writeFile(dest, content);
  }
  const out = path.join(workDir, 'image.iso');
  await execa('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'SKIFFTEST', ...extraArgs, '-o', out, root]);
  return out;
}

/**
 * A 70-byte x86 multiboot kernel: prints "SKIFF-STUB" on COM1, then halts
 * forever. QEMU boots it with -kernel/-initrd like Linux, so the driver's whole
 * lifecycle (daemonize, QMP, pid file, forwarding, stop) runs against a real
 * QEMU process without a real guest. It ignores the ACPI power button, which
 * is exactly what tests of the stop timeout need.
 */
export function multibootStub(): Buffer {
  const base = 0x100000;
  const header = 32;
  // cld; mov esi,msg; mov dx,0x3f8; 1: lodsb; test al,al; jz 2f; out dx,al; jmp 1b; 2: cli; 3: hlt; jmp 3b
  const code = [0xfc, 0xbe, 0, 0, 0, 0, 0x66, 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xfa, 0xf4, 0xeb, 0xfd];
  const msg = Buffer.from('SKIFF-STUB\n\0', 'latin1');
  const b = Buffer.alloc(header + code.length + msg.length);
  const magic = 0x1badb002;
  const flags = 0x00010000; // the load addresses below are valid ("a.out kludge")
  b.writeUInt32LE(magic, 0);
  b.writeUInt32LE(flags, 4);
  b.writeUInt32LE((-(magic + flags)) >>> 0, 8);
  b.writeUInt32LE(base, 12); // header_addr
  b.writeUInt32LE(base, 16); // load_addr
  b.writeUInt32LE(0, 20); // load_end_addr: the whole file
  b.writeUInt32LE(0, 24); // bss_end_addr: none
  b.writeUInt32LE(base + header, 28); // entry
  Buffer.from(code).copy(b, header);
  b.writeUInt32LE(base + header + code.length, header + 2);
  msg.copy(b, header + code.length);
  return b;
}
