import { createInterface } from 'node:readline/promises';
import type { Argv, CommandModule } from 'yargs';
import { ExitCode, SkiffError } from '../../errors.js';
import { action, type GlobalArgs } from '../context.js';

export interface DeleteArgs extends GlobalArgs {
  yes?: boolean;
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export const deleteCommand: CommandModule<GlobalArgs, DeleteArgs> = {
  command: 'delete',
  aliases: ['rm'],
  describe: 'Delete the machine and its data disk (images, containers, volumes)',
  builder: (y) =>
    y
      .option('yes', { alias: 'y', type: 'boolean', describe: 'do not ask for confirmation' })
      .example('$0 delete', 'asks first')
      .example('$0 rm -m dev -y', 'no questions') as Argv<DeleteArgs>,
  handler: action<DeleteArgs>(async (argv, { home, name, out }) => {
    const { findDeleteTarget, deleteTarget } = await import('../../machine/delete.js');
    const target = await findDeleteTarget(home, name, { confirmed: Boolean(argv.yes) });
    if (!argv.yes) {
      // The data disk holds every image and volume: never delete it on an unanswered prompt.
      if (!process.stdin.isTTY || out.json) {
        throw new SkiffError('confirm', `deleting machine "${name}" needs confirmation`, {
          hint: 'add --yes to delete it and all its data',
          exitCode: ExitCode.usage,
        });
      }
      if (!(await confirm(`Delete machine "${name}" and all its images, containers and volumes? [y/N] `))) {
        throw new SkiffError('cancelled', 'not deleted', { exitCode: ExitCode.failure });
      }
    }
    await deleteTarget(home, target);
    out.result({ name, deleted: true }, () => (out.interactive ? `Deleted machine "${name}".` : ''));
  }),
};
