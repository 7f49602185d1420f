import type { CommandModule } from 'yargs';
import type { PauseReason } from '../../drivers/pause.js';
import type { ListEntry } from '../../machine/list.js';
import { formatBytes } from '../../ui/format.js';
import { action, type GlobalArgs } from '../context.js';

const PAUSED_FOR: Record<PauseReason, string> = {
  'host-disk-full': 'host disk full',
  'host-disk-error': 'host disk error',
  paused: 'in the hypervisor',
};

function stateText(m: ListEntry): string {
  if (m.pausedFor) return `${m.state} (${PAUSED_FOR[m.pausedFor]})`;
  if (m.suspended) return `${m.state} (${formatBytes(m.suspended.sizeBytes)} saved)`;
  return m.state;
}

export const listCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  aliases: ['ls'],
  describe: 'List machines and their states',
  builder: (y) => y.example('$0 list', 'a table').example('$0 ls --json', 'as JSON'),
  handler: action(async (_argv, { home, out }) => {
    const { listMachines } = await import('../../machine/list.js');
    const all = await listMachines(home);
    out.result(all, () => {
      if (all.length === 0) return out.interactive ? 'No machines. Create one with: skiff init' : '';
      const rows = [['NAME', 'STATE', 'DRIVER', 'ARCH', 'CPUS', 'MEMORY', 'SOCKET']];
      for (const m of all) {
        rows.push([m.name, m.error ? `error: ${m.error}` : stateText(m), m.host ? `${m.driver} ${m.host}` : (m.driver ?? '-'), m.arch ?? '-', String(m.cpus ?? '-'), m.memoryMiB ? `${m.memoryMiB}M` : '-', m.socket ?? '-']);
      }
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
    });
  }),
};
