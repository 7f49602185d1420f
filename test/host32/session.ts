import { execFile, execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Drives build-root.sh and session.sh for the i386 end-to-end test. */
const BUILD_ROOT = fileURLToPath(new URL('./build-root.sh', import.meta.url));
const SESSION = fileURLToPath(new URL('./session.sh', import.meta.url));
const I386_EXEC = fileURLToPath(new URL('./i386-exec.sh', import.meta.url));

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Session {
  dir: string;
  /** The chroot's / as seen from the host. */
  merged: string;
  /** Same path inside and outside the chroot; the machine's sockets live in it. */
  runtimeDir: string;
  tarball: string;
  /** The ISO's path inside the chroot, when one was mounted. */
  iso?: string;
  /** Whose qemu-system-x86_64 the session runs: the root's i386 one, or the host's where i386 is emulated (session.sh). */
  qemu: 'root' | 'host';
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Result> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGTERM' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function mustSucceed(what: string, r: Result): Result {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.stderr.slice(-4000)}`);
  return r;
}

/** The cached Debian i386 root for a suite (built on first use: minutes). */
export async function buildRoot(suite: 'bookworm' | 'trixie'): Promise<{ root: string; seconds: number; cached: boolean }> {
  const t0 = Date.now();
  const r = mustSucceed(`build-root.sh (${suite})`, await run('bash', [BUILD_ROOT], { SKIFF_HOST32_SUITE: suite }, 30 * 60_000));
  const root = r.stdout.trim().split('\n').pop() ?? '';
  return { root, seconds: (Date.now() - t0) / 1000, cached: /reusing cached root/.test(r.stderr) };
}

export async function up(root: string, iso?: string): Promise<Session> {
  const r = mustSucceed('session.sh up', await run('bash', [SESSION, 'up', root, ...(iso ? [iso] : [])], { SKIFF_HOST32_OWNER: String(process.pid) }, 10 * 60_000));
  const kv = Object.fromEntries(r.stdout.split('\n').flatMap((l) => (/^[A-Z_]+=/.test(l) ? [[l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]] : [])));
  const need = (k: string): string => {
    const v = kv[k];
    if (!v) throw new Error(`session.sh up printed no ${k}:\n${r.stdout}\n${r.stderr}`);
    return v;
  };
  const qemu = need('QEMU');
  if (qemu !== 'root' && qemu !== 'host') throw new Error(`session.sh up printed QEMU=${qemu}`);
  return { dir: need('SESSION'), merged: need('MERGED'), runtimeDir: need('RUNTIME_DIR'), tarball: need('TARBALL'), qemu, ...(kv.ISO ? { iso: kv.ISO } : {}) };
}

/** Runs a command inside the chroot with skiff's environment (SKIFF_HOME, SKIFF_RUNTIME_DIR). */
export function inRoot(s: Session, args: string[], timeoutMs = 120_000): Promise<Result> {
  return run('bash', [SESSION, 'exec', s.dir, ...args], {}, timeoutMs);
}

/** Stops the machine, ends what is left in the chroot, unmounts, removes. Throws if anything stays behind. */
export async function down(s: Session): Promise<void> {
  mustSucceed('session.sh down', await run('bash', [SESSION, 'down', s.dir], {}, 5 * 60_000));
}

/**
 * Processes running inside the chroot, with the host path of the program each
 * runs. Where i386 binaries run through binfmt_misc (a kernel that refuses them:
 * test/host32/i386-exec.sh), /proc/PID/exe is the emulator and the program is
 * the emulator's first argument, a path inside the chroot.
 */
export function chrootProcesses(merged: string): Array<{ pid: number; exe: string; program: string; argv: string[] }> {
  const out: Array<{ pid: number; exe: string; program: string; argv: string[] }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/root`) !== merged) continue;
      const exe = readlinkSync(`/proc/${name}/exe`);
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const emulated = /\/qemu-i386(-static)?$/.test(exe) && argv[1]?.startsWith('/');
      out.push({ pid: Number(name), exe, program: emulated ? path.join(merged, argv[1]!) : exe, argv });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** How this machine runs i386 binaries: "native", "emulated (ENTRY)" (binfmt_misc), or "refused". */
export function i386Exec(): string {
  try {
    return execFileSync('bash', [I386_EXEC, 'probe'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    return `refused (${String((e as { stderr?: string }).stderr ?? e).trim()})`;
  }
}

/** ELF class and machine of a file: 32-bit i386 is { bits: 32, machine: 3 }. */
export function elfOf(file: string): { bits: number; machine: number } {
  const fd = openSync(file, 'r');
  try {
    const h = Buffer.alloc(20);
    readSync(fd, h, 0, 20, 0);
    if (h.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
    return { bits: h[4] === 1 ? 32 : 64, machine: h.readUInt16LE(18) };
  } finally {
    closeSync(fd);
  }
}

export const EM_386 = 3;
export const EM_X86_64 = 62;
