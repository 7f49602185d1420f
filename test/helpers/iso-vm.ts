import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../src/util/free-port.js';
import { waitUntil } from '../../src/util/wait.js';

const execFileP = promisify(execFile);

/** Boot files the host takes from the ISO (plain ISO9660 names, no Rock Ridge). */
export interface BootFiles {
  kernel: string;
  initrd: string;
  cmdline: string;
  version: string;
}

/** Extracts /boot/* from the ISO with Rock Ridge off: proves the plain ISO9660 tree has them. */
export async function extractBootFiles(iso: string, dir: string): Promise<BootFiles> {
  const names = ['vmlinuz', 'initrd.img', 'cmdline', 'version'];
  const args = ['-osirrox', 'on', '-rockridge', 'off', '-indev', iso];
  for (const n of names) args.push('-extract', `/boot/${n}`, path.join(dir, n));
  await execFileP('xorriso', args);
  return {
    kernel: path.join(dir, 'vmlinuz'),
    initrd: path.join(dir, 'initrd.img'),
    cmdline: readFileSync(path.join(dir, 'cmdline'), 'utf8').trim(),
    version: readFileSync(path.join(dir, 'version'), 'utf8').trim(),
  };
}

/** Makes the qcow2 data disk whose first bytes are the seed (temp file, then rename). */
export async function makeDataDisk(seedFile: string, disk: string, sizeGiB: number): Promise<void> {
  await execFileP('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', seedFile, `${disk}.tmp`]);
  await execFileP('qemu-img', ['resize', '-q', `${disk}.tmp`, `${sizeGiB}G`]);
  await execFileP('mv', [`${disk}.tmp`, disk]);
}

export interface Markers {
  stages: Map<string, number>;
  ready?: number;
  errors: string[];
  poweroff?: number;
}

export function parseMarkers(consoleText: string): Markers {
  const m: Markers = { stages: new Map(), errors: [] };
  for (const line of consoleText.split(/\r?\n/)) {
    const stage = /^SKIFF-STAGE (\S+) ([\d.]+)$/.exec(line);
    if (stage?.[1] && stage[2]) m.stages.set(stage[1], Number(stage[2]));
    const ready = /^SKIFF-READY ([\d.]+)$/.exec(line);
    if (ready?.[1]) m.ready = Number(ready[1]);
    const off = /^SKIFF-POWEROFF ([\d.]+)$/.exec(line);
    if (off?.[1]) m.poweroff = Number(off[1]);
    if (line.startsWith('SKIFF-ERROR ')) m.errors.push(line);
  }
  return m;
}

/**
 * One QEMU guest booted the way the host's driver does it (direct kernel boot,
 * TCG, data disk first, ISO second, SSH port forwarded on loopback, QMP socket).
 */
export class IsoVm {
  readonly consoleLog: string;
  readonly qmpSock: string;
  sshPort = 0;
  private proc: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;

  constructor(
    private readonly dir: string,
    private readonly iso: string,
    private readonly boot: BootFiles,
    private readonly disk: string,
  ) {
    this.consoleLog = path.join(dir, 'console.log');
    this.qmpSock = path.join(dir, 'qmp.sock');
  }

  async start(): Promise<void> {
    this.sshPort = await freePort();
    const args = [
      // One TCG thread, as the driver does: multi-threaded TCG races the kernel's live patching.
      '-machine', 'q35', '-cpu', 'max', '-smp', '2', '-m', '2048', '-accel', 'tcg,thread=single',
      '-kernel', this.boot.kernel, '-initrd', this.boot.initrd,
      // skiff.debug: a failing step's log follows its SKIFF-ERROR on the console.
      '-append', `${this.boot.cmdline} skiff.debug`,
      '-drive', `if=virtio,file=${this.disk},format=qcow2`,
      '-drive', `if=virtio,file=${this.iso},format=raw,readonly=on`,
      '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${this.sshPort}-:22`,
      '-device', 'virtio-net-pci,netdev=n0',
      '-serial', `file:${this.consoleLog}`,
      '-qmp', `unix:${this.qmpSock},server,nowait`,
      '-display', 'none', '-nodefaults', '-no-user-config',
    ];
    const proc = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
    this.exited.then((code) => {
      if (code !== 0 && stderr) process.stderr.write(`qemu exited ${code}: ${stderr}\n`);
    });
  }

  markers(): Markers {
    return parseMarkers(existsSync(this.consoleLog) ? readFileSync(this.consoleLog, 'utf8') : '');
  }

  /** Waits for SKIFF-READY; throws on SKIFF-ERROR, on QEMU exiting, or on timeout. */
  async waitReady(timeoutMs: number): Promise<Markers> {
    let gone = false;
    void this.exited?.then(() => (gone = true));
    const m = await waitUntil(
      () => {
        const m = this.markers();
        if (m.errors.length > 0 || gone) return m;
        return m.ready !== undefined ? m : undefined;
      },
      { timeoutMs, intervalMs: 250 },
    );
    const text = existsSync(this.consoleLog) ? readFileSync(this.consoleLog, 'utf8') : '';
    if (!m) throw new Error(`guest not ready in ${timeoutMs} ms; console:\n${text}`);
    if (m.ready === undefined) throw new Error(`guest failed to boot; console:\n${text}`);
    return m;
  }

  private async qmp(command: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const s = net.createConnection(this.qmpSock);
      let buf = '';
      let step = 0;
      s.on('data', (d) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const msg = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc: string } };
          if (msg.error) return reject(new Error(msg.error.desc));
          if (step === 0 && msg.QMP) {
            step = 1;
            s.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
          } else if (step === 1 && msg.return !== undefined) {
            step = 2;
            s.write(JSON.stringify({ execute: command }) + '\n');
          } else if (step === 2 && msg.return !== undefined) {
            s.end();
            resolve();
          }
        }
      });
      s.on('error', reject);
    });
  }

  /** Presses the ACPI power button; resolves with QEMU's exit code once it exits. */
  async acpiShutdown(timeoutMs: number): Promise<number | null> {
    await this.qmp('system_powerdown');
    const code = await Promise.race([
      this.exited,
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs)),
    ]);
    if (code === 'timeout') throw new Error(`QEMU still running ${timeoutMs} ms after the power button`);
    this.proc = undefined;
    return code ?? null;
  }

  /** Ends QEMU if it still runs (cleanup after a failure). */
  async kill(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
    this.proc = undefined;
  }
}
