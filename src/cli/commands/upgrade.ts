import type { Argv, CommandModule } from 'yargs';
import { action, type GlobalArgs } from '../context.js';

export interface UpgradeArgs extends GlobalArgs {
  iso?: string;
  checksum?: string;
}

export const upgradeCommand: CommandModule<GlobalArgs, UpgradeArgs> = {
  command: 'upgrade',
  describe: 'Move the machine to a new guest image, keeping its data disk',
  builder: (y) =>
    y
      .option('iso', { type: 'string', describe: 'new image: URL or path (default: SKIFF_ISO_URL, a local build, the release)' })
      .option('checksum', { type: 'string', describe: 'expected image checksum, sha256:HEX' })
      .example('$0 upgrade', 'to the newest image')
      .example('$0 upgrade --iso ./iso/out/skiff-amd64.iso', 'to a local build') as Argv<UpgradeArgs>,
  handler: action<UpgradeArgs>(async (argv, { home, name, out }) => {
    const [{ Machine }, { startMachine }, { upgradeMachine }, { StageReporter }, { resolveImageWithProgress }] = await Promise.all([
      import('../../machine/machine.js'),
      import('../../machine/start.js'),
      import('../../machine/upgrade.js'),
      import('../../ui/stages.js'),
      import('../image.js'),
    ]);
    const m = await Machine.load(home, name);
    const { vmConfig } = await import('../../machine/config.js');
    const vm = vmConfig(m.config, 'upgrade');
    const image = await resolveImageWithProgress(home, out, {
      ...(argv.iso !== undefined ? { iso: argv.iso } : {}),
      ...(argv.checksum !== undefined ? { checksum: argv.checksum } : {}),
      arch: vm.arch,
    });
    const { result, machine } = await upgradeMachine(m, image);
    if (result.changed && result.wasRunning) {
      const ui = await StageReporter.create(out.interactive, out.color);
      try {
        await startMachine(machine, ui);
        ui.succeed(`Machine "${name}" is running on the new image`);
      } catch (e) {
        ui.fail();
        throw e;
      }
    }
    out.result(result, () =>
      result.changed ? `Upgraded machine "${name}" to image sha256:${result.to.slice(0, 12)} (data disk kept).` : `Machine "${name}" already runs this image.`,
    );
  }),
};
