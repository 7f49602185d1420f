import type { Argv, CommandModule } from 'yargs';
import { shQuote } from '../../util/sh-quote.js';
import { action, type GlobalArgs } from '../context.js';

export interface SshArgs extends GlobalArgs {
  command?: string[];
  '--'?: Array<string | number>;
}

/** Quotes argv words for the guest's sh, so `skiff ssh -- ls "a b"` means what it says. */
function shellJoin(words: string[]): string {
  if (words.length === 1) return words[0]!; // one word: taken as a whole command line, like ssh does
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : shQuote(w))).join(' ');
}

export const sshCommand: CommandModule<GlobalArgs, SshArgs> = {
  command: 'ssh [command..]',
  describe: 'Open a shell in the machine, or run a command there (exit code passed through)',
  builder: (y) =>
    y
      .positional('command', { type: 'string', array: true, describe: 'command to run instead of a shell' })
      .example('$0 ssh', 'interactive shell')
      .example('$0 ssh -- df -h /var/lib/docker', 'run a command') as Argv<SshArgs>,
  handler: action<SshArgs>(async (argv, { home, name }) => {
    const [{ Machine }, { runningMachineSshTarget }, { connectSsh }, { runSsh }] = await Promise.all([
      import('../../machine/machine.js'),
      import('../../machine/ssh-target.js'),
      import('../../ssh/connect.js'),
      import('../../ssh/shell.js'),
    ]);
    const target = await runningMachineSshTarget(await Machine.load(home, name));
    const words = [...(argv.command ?? []), ...(argv['--'] ?? [])].map(String);
    const conn = await connectSsh(target);
    try {
      process.exitCode = await runSsh(conn.client, words.length ? shellJoin(words) : undefined, {
        stdin: process.stdin,
        stdout: process.stdout,
        stderr: process.stderr,
      });
    } finally {
      conn.client.end();
    }
  }),
};
