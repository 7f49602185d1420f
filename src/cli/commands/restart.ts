import type { Argv, CommandModule } from 'yargs';
import { action, type GlobalArgs } from '../context.js';
import { runStart, type StartArgs } from './start.js';
import { runStop, stopOptions } from './stop.js';

export const restartCommand: CommandModule<GlobalArgs, StartArgs & { force?: boolean }> = {
  command: 'restart',
  describe: 'Stop, then start the machine',
  builder: (y) =>
    stopOptions(y)
      .option('timings', { type: 'boolean', describe: 'print how long each stage took' })
      .example('$0 restart', 'restart the default machine') as Argv<StartArgs & { force?: boolean }>,
  handler: action(async (argv, ctx) => {
    // One result is printed, the start's.
    await runStop(argv, { ...ctx, out: { ...ctx.out, result: () => {} } });
    // --timeout is the clean-shutdown wait here, not the boot deadline.
    const { timeout: _stopTimeout, ...startArgs } = argv;
    await runStart(startArgs, ctx);
  }),
};
