import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { deleteCommand } from './commands/delete.js';
import { initCommand } from './commands/init.js';
import { listCommand } from './commands/list.js';
import { logsCommand } from './commands/logs.js';
import { restartCommand } from './commands/restart.js';
import { shellinitCommand } from './commands/shellinit.js';
import { sshCommand } from './commands/ssh.js';
import { startCommand } from './commands/start.js';
import { statusCommand } from './commands/status.js';
import { stopCommand } from './commands/stop.js';
import { suspendCommand } from './commands/suspend.js';
import { swarmCommand } from './commands/swarm.js';
import { upgradeCommand } from './commands/upgrade.js';
import { skiffVersion, versionCommand } from './commands/version.js';
import type { GlobalArgs } from './context.js';

export async function main(argv = hideBin(process.argv)): Promise<void> {
  await yargs(argv)
    .scriptName('skiff')
    .usage('$0 <command> [options]\n\nA Docker engine in a small VM, for hosts that cannot run one natively.')
    .option('machine', { alias: 'm', type: 'string', default: 'default', describe: 'machine name', global: true })
    .option('home', { type: 'string', describe: "skiff's state directory (default: SKIFF_HOME or ~/.skiff)", global: true })
    .option('json', { type: 'boolean', default: false, describe: 'machine-readable output, no progress', global: true })
    .option('debug', { type: 'boolean', default: false, describe: 'show stack traces and debug detail', global: true })
    .command<GlobalArgs>(initCommand as never)
    .command(startCommand as never)
    .command(stopCommand as never)
    .command(suspendCommand as never)
    .command(restartCommand as never)
    .command(statusCommand as never)
    .command(listCommand as never)
    .command(shellinitCommand as never)
    .command(sshCommand as never)
    .command(logsCommand as never)
    .command(deleteCommand as never)
    .command(swarmCommand as never)
    .command(upgradeCommand as never)
    .command(versionCommand as never)
    .completion('completion', 'Print a shell completion script (bash, zsh)')
    .demandCommand(1, 'Give a command; see skiff --help')
    .recommendCommands()
    .strict()
    .parserConfiguration({ 'populate--': true })
    .version(skiffVersion())
    .help()
    .alias('h', 'help')
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`skiff: error: ${msg}\nhint: see \`skiff --help\`\n`);
      process.exit(2);
    })
    .parseAsync();
}
