import { readFile } from 'node:fs/promises';

/**
 * When a live process started, as an opaque string that stays the same for the
 * process's whole life: with its pid it names one process, so a pid reused by
 * another program after ours died is never taken for ours. Undefined when the
 * process is gone or a zombie (dead, waiting for its parent to reap it).
 */
export async function processStartTime(pid: number): Promise<string | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if (process.platform === 'linux') {
    let stat: string;
    try {
      stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined;
    }
    return parseProcStat(stat);
  }
  const { execa } = await import('execa');
  const r = await execa('ps', ['-o', 'stat=,lstart=', '-p', String(pid)], { reject: false, env: { LC_ALL: 'C' } });
  const out = r.stdout.trim();
  if (r.exitCode !== 0 || out === '' || out.startsWith('Z')) return undefined;
  return out.replace(/^\S+\s+/, '');
}

/**
 * /proc/PID/stat: "pid (comm) state ... starttime" with starttime the 22nd field,
 * in clock ticks after boot. comm may hold spaces and parentheses: the fields are
 * counted from the last ')'.
 */
export function parseProcStat(stat: string): string | undefined {
  const end = stat.lastIndexOf(')');
  if (end < 0) return undefined;
  const fields = stat.slice(end + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state); starttime, field 22, is fields[19].
  const state = fields[0];
  const start = fields[19];
  if (state === undefined || state === 'Z' || state === 'X' || start === undefined || !/^\d+$/.test(start)) return undefined;
  return start;
}
