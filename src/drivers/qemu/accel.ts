import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Arch } from '../driver.js';
import { writeFileAtomic } from '../../util/atomic-file.js';
import { waitUntil } from '../../util/wait.js';
import type { Accel } from './argv.js';
import { firstLine } from './binaries.js';

export interface AccelVerdict {
  accel: Accel;
  /** Why hardware acceleration is not used; set whenever accel is tcg. */
  reason?: string;
}

export interface AccelProbeInput {
  qemuBinary: string;
  qemuVersion: string;
  arch: Arch;
  /** The guest kernel: the probe boots it, since a toy guest runs where Linux does not. */
  kernel: string;
  /** SKIFF_HOME/cache/accel.json */
  cacheFile: string;
  timeoutMs?: number;
  platform?: NodeJS.Platform;
  hostArch?: string;
}

const PROBE_TIMEOUT_MS = 20_000;

/**
 * Picks kvm (Linux), hvf (macOS) or tcg. The cheap checks (host arch, /dev/kvm
 * access, hv_support) run every time, because a user can fix them; the boot
 * probe is slow and its verdict is cached per QEMU binary and version.
 */
export async function chooseAccelerator(input: AccelProbeInput): Promise<AccelVerdict> {
  const platform = input.platform ?? process.platform;
  const hostArch = input.hostArch ?? process.arch;
  const want: Accel | undefined = platform === 'linux' ? 'kvm' : platform === 'darwin' ? 'hvf' : undefined;
  if (want === undefined) return { accel: 'tcg', reason: `no hardware accelerator support for ${platform} in skiff` };
  const native = (hostArch === 'x64' && input.arch === 'x86_64') || (hostArch === 'arm64' && input.arch === 'aarch64');
  if (!native) return { accel: 'tcg', reason: `an ${input.arch} guest on an ${hostArch} host cannot use ${want.toUpperCase()}` };

  const cheap = want === 'kvm' ? await kvmDeviceProblem() : await hvfProblem();
  if (cheap !== undefined) return { accel: 'tcg', reason: cheap };

  const key = `${path.basename(input.qemuBinary)}@${input.qemuVersion}/${want}`;
  const cache = await readCache(input.cacheFile);
  const hit = cache[key];
  if (hit !== undefined) return hit.ok ? { accel: want } : { accel: 'tcg', reason: hit.reason };

  const problem = await bootProbe(input, want);
  cache[key] = problem === undefined ? { ok: true, checkedAt: new Date().toISOString() } : { ok: false, reason: problem, checkedAt: new Date().toISOString() };
  await mkdir(path.dirname(input.cacheFile), { recursive: true });
  await writeFileAtomic(input.cacheFile, JSON.stringify(cache, null, 2) + '\n');
  return problem === undefined ? { accel: want } : { accel: 'tcg', reason: problem };
}

export function tcgNotice(reason: string): string {
  return `${reason}; running under TCG (software emulation), so boots and builds will be much slower`;
}

interface CacheEntry {
  ok: boolean;
  reason?: string;
  checkedAt: string;
}

async function readCache(file: string): Promise<Record<string, CacheEntry>> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
    const out: Record<string, CacheEntry> = {};
    for (const [k, e] of Object.entries(v as Record<string, unknown>)) {
      const o = e as Partial<CacheEntry> | null;
      if (o && typeof o.ok === 'boolean' && typeof o.checkedAt === 'string') {
        out[k] = { ok: o.ok, checkedAt: o.checkedAt, reason: typeof o.reason === 'string' ? o.reason : 'hardware acceleration failed its check' };
      }
    }
    return out;
  } catch {
    return {};
  }
}

async function kvmDeviceProblem(): Promise<string | undefined> {
  try {
    const fh = await open('/dev/kvm', 'r+');
    await fh.close();
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'KVM is not available (/dev/kvm is missing: virtualization off in firmware, or a VM without nested virtualization)';
    if (code === 'EACCES' || code === 'EPERM') return 'no permission to open /dev/kvm (add your user to the "kvm" group and log in again)';
    return `/dev/kvm cannot be opened (${code ?? String(e)})`;
  }
}

async function hvfProblem(): Promise<string | undefined> {
  const { execa } = await import('execa');
  const r = await execa('sysctl', ['-n', 'kern.hv_support'], { reject: false, timeout: 5000 });
  return r.stdout.trim() === '1' ? undefined : 'the macOS Hypervisor framework is not available (kern.hv_support is not 1)';
}

/**
 * Boots the guest kernel without an initrd and waits for its first console line.
 * Where the accelerator is broken (as on hosts whose /dev/kvm exists but fails
 * on real guest code) QEMU asserts, reports an internal error, or hangs.
 */
async function bootProbe(input: AccelProbeInput, accel: Accel): Promise<string | undefined> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-accel-'));
  const log = path.join(dir, 'console.log');
  const x86 = input.arch === 'x86_64';
  const args = [
    '-machine', x86 ? 'q35' : 'virt',
    '-accel', accel,
    '-cpu', 'host',
    '-m', '256',
    '-nodefaults', '-display', 'none', '-no-reboot',
    '-kernel', input.kernel,
    '-append', x86 ? 'earlyprintk=ttyS0 console=ttyS0 panic=-1' : 'earlycon console=ttyAMA0 panic=-1',
    '-serial', `file:${log}`,
  ];
  const { execa } = await import('execa');
  const child = execa(input.qemuBinary, args, { reject: false, stdin: 'ignore', all: true });
  let output = '';
  child.all?.on('data', (d: Buffer | string) => {
    output += String(d);
  });
  let exited = false;
  const done = child.then((r) => {
    exited = true;
    return r;
  });
  try {
    const seen = await waitUntil(
      async () => {
        if (exited) return 'exited';
        // A broken KVM pauses the guest with an internal error instead of exiting: no need to wait it out.
        if (/internal error|assert/i.test(output)) return 'failed';
        const text = await readFile(log, 'utf8').catch(() => '');
        return /Linux version/.test(text) ? 'booted' : undefined;
      },
      { timeoutMs: input.timeoutMs ?? PROBE_TIMEOUT_MS, intervalMs: 100 },
    );
    if (seen === 'booted') return undefined;
    if (seen === 'failed') return `${accel.toUpperCase()} is present but failed a test boot (QEMU: ${firstLine(output)})`;
    if (seen === 'exited') {
      const r = await done;
      return `${accel.toUpperCase()} is present but failed a test boot (QEMU exited: ${firstLine(r.all ?? '') || `exit ${r.exitCode}`})`;
    }
    return `${accel.toUpperCase()} is present but failed a test boot (the guest kernel made no progress in ${Math.round((input.timeoutMs ?? PROBE_TIMEOUT_MS) / 1000)} s)`;
  } finally {
    if (!exited) child.kill('SIGKILL');
    await done;
    await rm(dir, { recursive: true, force: true });
  }
}
