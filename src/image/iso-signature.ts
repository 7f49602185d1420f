import { open } from 'node:fs/promises';
import { ExitCode, SkiffError } from '../errors.js';

// ISO9660: the first volume descriptor sits at sector 16 (0x8000); its identifier follows the type byte.
const SIGNATURE_OFFSET = 0x8001;
const SIGNATURE = Buffer.from('CD001', 'ascii');

export async function hasIsoSignature(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(SIGNATURE.length);
    const { bytesRead } = await fh.read(buf, 0, buf.length, SIGNATURE_OFFSET);
    return bytesRead === buf.length && buf.equals(SIGNATURE);
  } finally {
    await fh.close();
  }
}

export async function assertIsoSignature(file: string, shownAs: string): Promise<void> {
  if (!(await hasIsoSignature(file))) {
    throw new SkiffError('not-an-iso', `${shownAs} is not an ISO image (no ISO9660 signature)`, {
      hint: 'pass the skiff guest image (iso/out/skiff-amd64.iso after `npm run iso`) with --iso',
      exitCode: ExitCode.usage,
    });
  }
}
