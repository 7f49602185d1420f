import type { Argv, CommandModule } from 'yargs';
import { action, type GlobalArgs } from '../context.js';

export interface LogsArgs extends GlobalArgs {
  follow?: boolean;
  console?: boolean;
  agent?: boolean;
}

export const logsCommand: CommandModule<GlobalArgs, LogsArgs> = {
  command: 'logs',
  describe: "Show the guest's console log and the agent's log",
  builder: (y) =>
    y
      .option('follow', { alias: 'f', type: 'boolean', describe: 'keep printing as they grow' })
      .option('console', { type: 'boolean', describe: 'only the guest console' })
      .option('agent', { type: 'boolean', describe: 'only the agent log' })
      .example('$0 logs', 'both logs')
      .example('$0 logs --console -f', 'follow the guest console') as Argv<LogsArgs>,
  handler: action<LogsArgs>(async (argv, { home, name }) => {
    const { Machine } = await import('../../machine/machine.js');
    const { flushPartial, followFiles, printFiles } = await import('../../machine/logs.js');
    const m = await Machine.load(home, name);
    const remote = m.config.driver === 'ssh';
    if (remote && argv.console) {
      const { SkiffError, ExitCode } = await import('../../errors.js');
      throw new SkiffError('no-console', `machine "${name}" is a remote host: skiff has no console of it`, {
        hint: 'see its agent log (`skiff logs --agent`), or the host\'s own logs (`skiff ssh -- journalctl -u docker`)',
        exitCode: ExitCode.usage,
      });
    }
    const both = argv.console === argv.agent;
    const files: Array<{ label: string; file: string }> = [];
    if ((both && !remote) || argv.console) files.push({ label: 'console', file: m.paths.consoleLog });
    if (both || argv.agent) files.push({ label: 'agent', file: m.paths.agentLog });
    const labelled = files.length > 1;
    const positions = await printFiles(files, labelled, process.stdout);
    if (argv.follow) await followFiles(files, positions, labelled, process.stdout);
    else flushPartial(files, positions, process.stdout);
  }),
};
