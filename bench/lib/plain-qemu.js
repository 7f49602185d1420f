import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pingOnce } from './docker-api.js';
import { alive, killAndWait, shellJoin, sleep, started } from './proc.js';

/** A free TCP port on 127.0.0.1 (the kernel picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * True once something on 127.0.0.1:port sends an SSH banner within `ms`. QEMU's
 * user-net accepts a host connection before the guest listens and may then hold it
 * open with no answer; an `ssh` started on such a connection would wait for the
 * banner indefinitely. A hand-written script would probe first; so does the reference.
 */
export function sshBanner(port, ms = 1000) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const done = (ok) => (clearTimeout(t), s.destroy(), resolve(ok));
    const t = setTimeout(() => done(false), ms);
    s.on('error', () => done(false));
    s.on('close', () => done(false));
    s.on('data', (d) => /^SSH-/.test(d.toString('latin1')) && done(true));
  });
}

/**
 * The reference: the machine's image booted by a hand-written qemu-system-x86_64
 * command with the same machine type, CPUs, memory, accelerator, devices and
 * direct kernel boot, and the Docker API reached through OpenSSH's own
 * `ssh -N -L sock:/var/run/docker.sock`. No daemonize, no QMP, no pid file, no agent.
 */
export function plainQemuArgv({ accel, cpus, memoryMiB, kernel, initrd, append, disk, iso, sshPort, consoleLog, tcgThread = 'single' }) {
  return [
    // The same accelerator options as skiff's driver (one TCG thread: see src/drivers/qemu/argv.ts);
    // bench/tcg.mjs passes tcgThread 'multi' to compare.
    '-machine', 'q35', '-accel', accel === 'tcg' ? `tcg,thread=${tcgThread}` : accel, '-cpu', accel === 'tcg' ? 'max' : 'host',
    '-smp', String(cpus), '-m', String(memoryMiB), '-nodefaults', '-display', 'none', '-rtc', 'base=utc',
    '-kernel', kernel, '-initrd', initrd, '-append', append,
    '-drive', `if=virtio,file=${disk},format=qcow2`,
    '-drive', `if=virtio,file=${iso},format=raw,readonly=on`,
    '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`, '-device', 'virtio-net-pci,netdev=n0',
    '-device', 'virtio-rng-pci',
    '-serial', `file:${consoleLog}`,
  ];
}

export function sshForwardArgv({ key, knownHosts, port, local }) {
  return [
    '-N', '-F', '/dev/null', '-i', key, '-p', String(port),
    '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes', '-o', 'StreamLocalBindUnlink=yes', '-o', 'ConnectTimeout=10',
    '-L', `${local}:/var/run/docker.sock`, 'root@127.0.0.1',
  ];
}

/**
 * One cold boot of the reference, on a private copy of the (stopped) machine's
 * data disk. Resolves with the wall time from launching QEMU to the first
 * `/_ping` answered through the OpenSSH forward, and the exact commands.
 * Every pid started is registered (`started`), so an interrupted run can still kill it.
 */
export async function plainBoot({ machineDir, iso, accel, cpus, memoryMiB, tcgThread, appendExtra, whileUp, timeoutMs = 300_000, onSpawn = (pid) => started.add(pid) }) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'skq-'));
  const boot = path.join(machineDir, 'driver', 'boot');
  const disk = path.join(dir, 'data.qcow2');
  const consoleLog = path.join(dir, 'console.log');
  const knownHosts = path.join(dir, 'known_hosts');
  const local = path.join(dir, 'docker.sock');
  let qemu;
  let ssh;
  try {
    await copyFile(path.join(machineDir, 'driver', 'data.qcow2'), disk);
    const sshPort = await freePort();
    await writeFile(knownHosts, `[127.0.0.1]:${sshPort} ${(await readFile(path.join(machineDir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim()}\n`);
    const append = [(await readFile(path.join(boot, 'cmdline'), 'utf8')).trim(), ...(appendExtra ? [appendExtra] : [])].join(' ');
    const qemuArgv = plainQemuArgv({
      accel, cpus, memoryMiB, tcgThread, kernel: path.join(boot, 'vmlinuz'), initrd: path.join(boot, 'initrd.img'), append, disk, iso, sshPort, consoleLog,
    });
    const sshArgv = sshForwardArgv({ key: path.join(machineDir, 'id_ed25519'), knownHosts, port: sshPort, local });

    const t0 = performance.now();
    qemu = spawn('qemu-system-x86_64', qemuArgv, { stdio: ['ignore', 'ignore', 'pipe'] });
    onSpawn(qemu.pid);
    let qemuErr = '';
    qemu.stderr.on('data', (d) => (qemuErr += d));
    let ms;
    while (performance.now() - t0 < timeoutMs) {
      if (qemu.exitCode !== null) throw new Error(`qemu exited (${qemu.exitCode}): ${qemuErr.trim()}`);
      // Probe for sshd's banner every 100 ms, then start ssh (again, if it exited).
      if (!ssh || ssh.exitCode !== null || ssh.signalCode !== null) {
        ssh = undefined;
        if (await sshBanner(sshPort)) onSpawn((ssh = spawn('ssh', sshArgv, { stdio: 'ignore' })).pid);
        else {
          await sleep(100);
          continue;
        }
      }
      if (await pingOnce(local, 2000)) {
        ms = performance.now() - t0;
        break;
      }
      await sleep(100);
    }
    if (ms === undefined) throw new Error(`plain QEMU: no /_ping within ${timeoutMs} ms`);
    // The guest may print SKIFF-READY just after the first /_ping answered: wait for it a little.
    let ready;
    for (let i = 0; i < 150 && !ready; i++) {
      ready = /SKIFF-READY ([\d.]+)/.exec(await readFile(consoleLog, 'utf8').catch(() => ''));
      if (!ready) await sleep(200);
    }
    // Work on the booted guest before it is torn down (bench/tcg.mjs starts containers).
    const extra = whileUp ? await whileUp({ dockerSocket: local, consoleLog }) : undefined;
    return {
      ms,
      extra,
      guestReady: ready ? Number(ready[1]) : undefined,
      commands: [shellJoin(['qemu-system-x86_64', ...qemuArgv]), shellJoin(['ssh', ...sshArgv])],
    };
  } finally {
    if (ssh && alive(ssh.pid)) await killAndWait(ssh.pid);
    if (qemu && alive(qemu.pid)) {
      qemu.kill('SIGKILL'); // a throwaway disk copy: nothing to flush
      await new Promise((r) => (qemu.exitCode !== null || qemu.signalCode !== null ? r() : qemu.once('exit', r)));
    }
    await rm(dir, { recursive: true, force: true });
  }
}
