import type { Argv, CommandModule } from 'yargs';
import { SHELLS } from '../../shell/formats.js';
import { shellinit } from '../../shell/shellinit.js';
import { action, machineFlag, type GlobalArgs } from '../context.js';

export interface ShellinitArgs extends GlobalArgs {
  shell?: string;
  unset?: boolean;
}

export const shellinitCommand: CommandModule<GlobalArgs, ShellinitArgs> = {
  command: 'shellinit',
  aliases: ['env'],
  describe: 'Print the environment the docker client needs for this machine',
  builder: (y) =>
    y
      .option('shell', { type: 'string', describe: `shell to print for: ${SHELLS.join(', ')} (default: detected)` })
      .option('unset', { alias: 'u', type: 'boolean', describe: 'print what undoes it' })
      .example('eval "$($0 shellinit)"', 'bash, zsh, sh')
      .example('$0 shellinit --shell fish | source', 'fish')
      .example('& $0 shellinit --shell powershell | Invoke-Expression', 'PowerShell') as Argv<ShellinitArgs>,
  handler: action<ShellinitArgs>(async (argv, { home, name, out }) => {
    const r = shellinit({
      home,
      name,
      ...(argv.shell !== undefined ? { shell: argv.shell } : {}),
      unset: argv.unset ?? false,
      env: process.env,
      platform: process.platform,
    });
    if (!argv.unset && !r.socketExists && process.stderr.isTTY && !out.json) {
      out.warn(`machine "${name}" is not running; start it with: skiff start${machineFlag(name)}`);
    }
    if (out.json) out.result({ shell: r.shell, set: r.set, unset: r.unset }, () => '');
    else process.stdout.write(r.text);
  }),
};
