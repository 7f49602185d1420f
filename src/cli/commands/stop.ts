import type { Argv, CommandModule } from 'yargs';
import { action, machineFlag, type CommandContext, type GlobalArgs } from '../context.js';

export interface StopArgs extends GlobalArgs {
  force?: boolean;
  timeout?: number;
}

export async function runStop(argv: StopArgs, ctx: CommandContext): Promise<void> {
  const [{ Machine }, { stopMachine }, { StageReporter }] = await Promise.all([
    import('../../machine/machine.js'),
    import('../../machine/stop.js'),
    import('../../ui/stages.js'),
  ]);
  const m = await Machine.load(ctx.home, ctx.name);
  const ui = await StageReporter.create(ctx.out.interactive, ctx.out.color);
  ui.stage('stop', argv.force ? 'powering off' : 'shutting down the guest');
  try {
    const r = await stopMachine(m, { force: argv.force ?? false, ...(argv.timeout !== undefined ? { timeoutMs: argv.timeout * 1000 } : {}) });
    ui.succeed(
      r.suspended === 'kept'
        ? `Machine "${m.name}" is suspended, not running: \`skiff start${machineFlag(m.name)}\` resumes it, \`skiff stop --force${machineFlag(m.name)}\` discards its saved state`
        : r.suspended === 'discarded'
          ? `Machine "${m.name}" was suspended: its saved state is discarded, the next start boots cold`
          : r.wasRunning
            ? `Machine "${m.name}" stopped`
            : `Machine "${m.name}" was not running`,
    );
    ctx.out.result({ name: m.name, stopped: true, wasRunning: r.wasRunning, ...(r.suspended ? { suspended: r.suspended } : {}) }, () => '');
  } catch (e) {
    ui.fail();
    throw e;
  }
}

export function stopOptions<T>(y: Argv<T>) {
  return y
    .option('force', { alias: 'f', type: 'boolean', describe: 'power off at once, without a clean shutdown' })
    .option('timeout', { type: 'number', describe: 'seconds to wait for a clean shutdown before forcing (default 60)' });
}

export const stopCommand: CommandModule<GlobalArgs, StopArgs> = {
  command: 'stop',
  aliases: ['down'],
  describe: 'Shut the machine down cleanly (ACPI), forcing after a timeout',
  builder: (y) =>
    stopOptions(y)
      .example('$0 stop', 'clean shutdown of the default machine')
      .example('$0 stop --force', 'power off at once') as Argv<StopArgs>,
  handler: action<StopArgs>(runStop),
};
