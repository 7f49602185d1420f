import { readFileSync } from 'node:fs';
import os from 'node:os';
import { run } from './proc.js';

/** What the numbers came from: CPU, cores, memory, OS, and the versions of everything measured. */
export async function machineInfo() {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model;
  const first = async (cmd, args) => {
    const r = await run(cmd, args).catch(() => undefined);
    return r ? (r.stdout + r.stderr).split('\n')[0].trim() : 'not installed';
  };
  return {
    cpu,
    cores: os.cpus().length,
    memGiB: (os.totalmem() / 1024 ** 3).toFixed(1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    qemu: await first('qemu-system-x86_64', ['--version']),
    openssh: await first('ssh', ['-V']),
    hyperfine: await first('hyperfine', ['--version']),
  };
}
