import type { CommandModule } from 'yargs';
import { formatBytes } from '../../ui/format.js';
import { action, machineFlag, type GlobalArgs } from '../context.js';

export const suspendCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'suspend',
  aliases: ['save'],
  describe: "Save the running machine's state to disk and stop it; `start` resumes it where it was",
  builder: (y) => y.example('$0 suspend', 'save the default machine').example('$0 start', 'resume it, containers still running'),
  handler: action(async (_argv, { home, name, out }) => {
    const [{ Machine }, { suspendMachine }, { StageReporter }] = await Promise.all([
      import('../../machine/machine.js'),
      import('../../machine/suspend.js'),
      import('../../ui/stages.js'),
    ]);
    const m = await Machine.load(home, name);
    const ui = await StageReporter.create(out.interactive, out.color);
    let r;
    try {
      r = await suspendMachine(m, ui);
    } catch (e) {
      ui.fail();
      throw e;
    }
    const size = formatBytes(r.saved.sizeBytes);
    ui.succeed(
      r.suspended
        ? `Machine "${m.name}" suspended (${size} saved, ${(ui.totalMs() / 1000).toFixed(1)} s): \`skiff start${machineFlag(m.name)}\` resumes it`
        : `Machine "${m.name}" was suspended already (${size} saved at ${r.saved.savedAt})`,
    );
    out.result({ name: m.name, suspended: true, wasRunning: r.suspended, savedAt: r.saved.savedAt, sizeBytes: r.saved.sizeBytes }, () => '');
  }),
};
