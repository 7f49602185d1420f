import type { Argv, CommandModule } from 'yargs';
import { ExitCode, SkiffError } from '../../errors.js';
import type { Machine } from '../../machine/machine.js';
import type { StartResult } from '../../machine/start.js';
import { action, machineFlag, type CommandContext, type GlobalArgs } from '../context.js';
import { startResultJson } from '../start-result.js';
import { initOptions, type InitArgs } from './init.js';

export interface StartArgs extends InitArgs {
  timings?: boolean;
  'use-context'?: boolean;
  timeout?: number;
}

/** Loads the machine, creating it with defaults (and any init flags) if it does not exist yet. */
async function loadOrInit(argv: StartArgs, ctx: CommandContext): Promise<Machine> {
  const { findOrCreate } = await import('../../machine/init.js');
  const { machine } = await findOrCreate(ctx.home, ctx.name, async () => {
    await refuseLikelyTypo(ctx.home, ctx.name);
    ctx.out.note(`Machine "${ctx.name}" does not exist yet: creating it.`);
    const [{ settingsFrom }, { resolveImageWithProgress }] = await Promise.all([import('../settings.js'), import('../image.js')]);
    return {
      home: ctx.home,
      name: ctx.name,
      settings: await settingsFrom(argv),
      resolveImage: (src) => resolveImageWithProgress(ctx.home, ctx.out, src),
    };
  });
  return machine;
}

/**
 * `start` makes a machine that does not exist, so a slip in `-m` would boot a
 * new VM of defaults beside the one meant. A name a typo away from an existing
 * machine is refused instead; `init` makes such a machine on purpose.
 */
async function refuseLikelyTypo(home: string, name: string): Promise<void> {
  if (name === 'default') return;
  const [{ nearestName }, { machineDirNames }, { machinePaths }, { existsSync }] = await Promise.all([
    import('../../machine/near-name.js'),
    import('../../layout/machine-dirs.js'),
    import('../../layout/paths.js'),
    import('node:fs'),
  ]);
  const existing = (await machineDirNames(home)).filter((n) => existsSync(machinePaths(home, n).config));
  const near = nearestName(name, existing);
  if (near === undefined) return;
  throw new SkiffError('no-machine', `machine "${name}" does not exist; did you mean "${near}"?`, {
    hint: `skiff start -m ${near}; to make a new machine "${name}", run \`skiff init -m ${name}\` first`,
    exitCode: ExitCode.notFound,
  });
}

export async function runStart(argv: StartArgs, ctx: CommandContext): Promise<void> {
  const m = await loadOrInit(argv, ctx);
  const [{ startMachine, savedStateDiscardedText }, { StageReporter }] = await Promise.all([import('../../machine/start.js'), import('../../ui/stages.js')]);
  const ui = await StageReporter.create(ctx.out.interactive, ctx.out.color);
  let r: StartResult;
  try {
    r = await startMachine(m, ui, {
      useContext: argv['use-context'] ?? false,
      ...(argv.timeout !== undefined ? { timeoutMs: argv.timeout * 1000 } : {}),
    });
  } catch (e) {
    ui.fail();
    throw e;
  }
  const total = Math.round(ui.totalMs());
  if (r.alreadyRunning && r.timings.length === 0) ui.succeed(`Machine "${m.name}" is already running`);
  else ui.succeed(`Machine "${m.name}" is running${r.resumed ? ', resumed from its saved state' : ''} (${(total / 1000).toFixed(1)} s)`);
  // On a terminal the stage reporter said so as it happened.
  if (r.savedStateDiscarded && !ctx.out.interactive) ctx.out.warn(savedStateDiscardedText(m.name, r.savedStateDiscarded));
  if (r.sharesNotMounted.length) ctx.out.warn(`shared folders not mounted in the guest: ${r.sharesNotMounted.join(', ')} (see skiff logs --console)`);
  const timings = [...r.timings, { stage: 'total', ms: total }];
  ctx.out.result(startResultJson(m.name, r, timings), () => {
    const lines: string[] = [];
    // On a terminal the stage reporter said so before the boot.
    if (r.recovered && !ctx.out.interactive) lines.push(`recovered: the VM had ${r.recovered.kind === 'crashed' ? 'crashed' : 'stopped without `skiff stop`'} at ${r.recovered.at} (${r.recovered.cause})`);
    if (argv.timings) for (const t of timings) lines.push(`${t.stage.padEnd(10)} ${(t.ms / 1000).toFixed(2)} s`);
    if (ctx.out.interactive) {
      lines.push(`To use it from this terminal: eval "$(skiff shellinit${machineFlag(m.name)})"`);
      lines.push(`or: docker --context ${r.context} ...`);
    }
    return lines.join('\n');
  });
}

export const startCommand: CommandModule<GlobalArgs, StartArgs> = {
  command: 'start',
  aliases: ['up'],
  describe: 'Boot the machine and forward its Docker socket (creates it if needed)',
  builder: (y) =>
    initOptions(y)
      .option('timings', { type: 'boolean', describe: 'print how long each stage took' })
      .option('use-context', { type: 'boolean', describe: "also make the machine's docker context the current one" })
      .option('timeout', { type: 'number', describe: 'seconds to wait for the engine (default 240)' })
      .example('$0 start', 'boot the default machine')
      .example('$0 start -m dev --timings', 'boot machine "dev" and show stage times') as Argv<StartArgs>,
  handler: action<StartArgs>(runStart),
};
