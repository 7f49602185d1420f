import type { CommandModule } from 'yargs';
import type { PortStatus } from '../../agent/ports/listeners.js';
import type { VmEnd } from '../../agent/vm-end.js';
import type { MachineStatus } from '../../machine/status.js';
import { isFull, type DiskUse } from '../../machine/disk-use.js';
import { formatBytes } from '../../ui/format.js';
import { describeShareWatch } from '../../machine/share-watch.js';
import { action, type GlobalArgs } from '../context.js';

export const statusCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'status',
  describe: "Show the machine's state, resources, socket and engine version",
  builder: (y) => y.example('$0 status', 'the default machine').example('$0 status -m dev --json', 'as JSON'),
  handler: action(async (_argv, { home, name, out }) => {
    const [{ Machine }, { machineStatus }] = await Promise.all([import('../../machine/machine.js'), import('../../machine/status.js')]);
    const s = await machineStatus(await Machine.load(home, name));
    out.result(s, () =>
      [
        ['Machine', s.name],
        ['State', s.paused ? `${s.state}: ${s.paused.detail}` : s.suspended ? `${s.state} at ${s.suspended.savedAt} (${formatBytes(s.suspended.sizeBytes)} saved): \`skiff start\` resumes it` : s.state],
        ...(s.ended ? [['Ended', formatEnded(s.ended)]] : []),
        ['Driver', `${s.driver}${s.accelerator ? ` (${s.accelerator})` : ''}`],
        ['Arch', `${s.arch}${s.binfmt ? ` (+ ${s.arch === 'x86_64' ? 'aarch64' : 'x86_64'} images through binfmt)` : ''}`],
        ...(s.remote
          ? [
              ['Host', `${s.remote.user}@${s.remote.host}:${s.remote.port} (${s.state === 'running' ? 'connected' : 'not connected'}; logs in with ${s.remote.auth})`],
              ['Host key', s.remote.hostKey],
              ['Remote', `${s.remote.engineSocket} on the host`],
            ]
          : [
              ['CPUs', String(s.cpus)],
              ['Memory', `${s.memoryMiB} MiB`],
              ['Disk', s.dataDisk ? `${s.diskGiB} GiB, ${formatDiskUse(s.dataDisk)}` : `${s.diskGiB} GiB`],
              ['Shares', formatShares(s.shares)],
            ]),
        ['Socket', s.socket],
        ['Context', s.dockerContext],
        ['SSH', s.ssh ? `${s.ssh.host}:${s.ssh.port}` : '-'],
        ['Agent', `${s.agent.state}${s.agent.detail ? ` (${s.agent.detail})` : ''}`],
        ['Engine', s.engine ? `Docker ${s.engine.version} (API ${s.engine.apiVersion})` : '-'],
        ...(s.image ? [['Image', `${s.image.source} (sha256:${s.image.sha256.slice(0, 12)})`]] : []),
        ...(s.ports ? [['Ports', formatPorts(s.ports)]] : []),
      ]
        .map(([k, v]) => `${(k + ':').padEnd(9)} ${v}`)
        .join('\n'),
    );
  }),
};

/** Use as `df` counts it; "available" excludes ext4's root reserve, which dockerd (root) may still fill. */
function formatDiskUse(d: DiskUse): string {
  const pct = d.sizeBytes > 0 ? Math.round((d.usedBytes / d.sizeBytes) * 100) : 0;
  return `${formatBytes(d.usedBytes)} used (${pct}%), ${isFull(d) ? 'FULL' : `${formatBytes(d.availableBytes)} free`}`;
}

/** When and why the last run ended, the console's last lines under it. */
function formatEnded(e: VmEnd): string {
  const indent = '\n' + ' '.repeat(10);
  const tail = e.consoleTail.length ? `${indent}last console lines:${e.consoleTail.map((l) => `${indent}  ${l}`).join('')}` : '';
  return `${e.at}: ${e.cause}${indent}\`skiff start\` boots it again${tail}`;
}

/** One line per share: where it is in the guest, which file system carries it, and whether host edits reach watchers. */
function formatShares(shares: MachineStatus['shares']): string {
  if (shares.length === 0) return '-';
  return shares
    .map((sh) => `${sh.hostPath}${sh.guestPath === sh.hostPath ? '' : ` -> ${sh.guestPath}`} (${sh.fs}${sh.options ? ` ${sh.options}` : ''}, ${sh.readOnly ? 'ro' : 'rw'}), ${describeShareWatch(sh.watch)}`)
    .join('\n' + ' '.repeat(10));
}

/** One line per port under the label; a port that could not be opened says why. */
function formatPorts(ports: PortStatus[]): string {
  if (ports.length === 0) return '-';
  return ports
    .map((p) => {
      const where = `127.0.0.1:${p.port}/${p.proto} -> ${p.name}`;
      return p.state === 'conflict' ? `${where} NOT FORWARDED: ${p.error ?? 'conflict'}` : `${where}${p.state === 'forwarded' ? '' : ` (${p.state})`}`;
    })
    .join('\n' + ' '.repeat(10));
}
