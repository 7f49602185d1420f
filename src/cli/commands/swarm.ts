import type { Argv, CommandModule } from 'yargs';
import { action, type CommandContext, type GlobalArgs } from '../context.js';
import { initOptions, type InitArgs } from './init.js';

export interface SwarmArgs extends InitArgs {
  name: string;
  nodes?: number;
}

async function reporter(ctx: CommandContext) {
  const { StageReporter } = await import('../../ui/stages.js');
  return StageReporter.create(ctx.out.interactive, ctx.out.color);
}

async function up(argv: SwarmArgs, ctx: CommandContext): Promise<void> {
  const [{ settingsFrom }, { resolveImageWithProgress }, { swarmUp }, { renderSwarmStatus }] = await Promise.all([
    import('../settings.js'),
    import('../image.js'),
    import('../../swarm/up.js'),
    import('../../swarm/status.js'),
  ]);
  const settings = await settingsFrom(argv);
  const ui = await reporter(ctx);
  const t0 = performance.now();
  try {
    ui.stage('swarm', `swarm ${argv.name}: checking`);
    const r = await swarmUp({
      home: ctx.home,
      swarm: argv.name,
      nodes: argv.nodes,
      settings,
      resolveImage: (src) => resolveImageWithProgress(ctx.home, ctx.out, src),
      progress: (text) => ui.stage('swarm', text),
    });
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    ui.succeed(r.alreadyUp ? `Swarm "${argv.name}" was already up` : `Swarm "${argv.name}" is up (${s} s)`);
    ctx.out.result({ ...r, seconds: Number(s) }, () => {
      const lines = [renderSwarmStatus(r.status)];
      if (ctx.out.interactive) lines.push(`To use it: eval "$(skiff shellinit -m ${r.status.manager})"`);
      return lines.join('\n');
    });
  } catch (e) {
    ui.fail();
    throw e;
  }
}

async function status(argv: SwarmArgs, ctx: CommandContext): Promise<void> {
  const { swarmStatus, renderSwarmStatus } = await import('../../swarm/status.js');
  const s = await swarmStatus(ctx.home, argv.name);
  ctx.out.result(s, () => renderSwarmStatus(s));
}

async function down(argv: SwarmArgs, ctx: CommandContext): Promise<void> {
  const { swarmDown } = await import('../../swarm/down.js');
  const ui = await reporter(ctx);
  ui.stage('stop', `stopping swarm ${argv.name}`);
  try {
    const r = await swarmDown(ctx.home, argv.name);
    ui.succeed(`Swarm "${argv.name}" stopped (${r.map((m) => m.machine).join(', ')})`);
    ctx.out.result({ name: argv.name, machines: r }, () => '');
  } catch (e) {
    ui.fail();
    throw e;
  }
}

async function remove(argv: SwarmArgs & { yes?: boolean }, ctx: CommandContext): Promise<void> {
  const { SkiffError, ExitCode } = await import('../../errors.js');
  if (!argv.yes) {
    throw new SkiffError('confirm', `deleting swarm "${argv.name}" deletes all its machines and their data`, {
      hint: 'add --yes to delete them',
      exitCode: ExitCode.usage,
    });
  }
  const { swarmRemove } = await import('../../swarm/down.js');
  const ui = await reporter(ctx);
  ui.stage('rm', `deleting swarm ${argv.name}`);
  try {
    const r = await swarmRemove(ctx.home, argv.name);
    ui.succeed(`Swarm "${argv.name}" deleted (${r.machines.join(', ') || 'no machines'})`);
    ctx.out.result({ name: argv.name, ...r }, () => '');
  } catch (e) {
    ui.fail();
    throw e;
  }
}

function nameOption<T>(y: Argv<T>) {
  return y.option('name', { type: 'string', default: 'swarm', describe: 'the swarm: machines NAME-1..NAME-N on network NAME' });
}

export const swarmCommand: CommandModule<GlobalArgs, SwarmArgs> = {
  command: 'swarm <command>',
  describe: 'Several machines as one Docker Swarm (NAME-1 is the manager)',
  builder: (y) =>
    y
      .command({
        command: 'up',
        describe: 'Create, start and join the machines (again: repairs, or returns at once)',
        builder: (yy) =>
          initOptions(nameOption(yy))
            .option('nodes', {
              type: 'number',
              describe: 'how many machines (default: as many as the swarm has, 2 for a new one); fewer than it has is refused: a swarm does not shrink',
            })
            .example('$0 swarm up --nodes 3', 'swarm-1 (manager), swarm-2, swarm-3') as Argv<SwarmArgs>,
        handler: action<SwarmArgs>(up) as never,
      })
      .command({
        command: 'status',
        describe: 'Nodes, roles, states, addresses',
        builder: (yy) => nameOption(yy) as Argv<SwarmArgs>,
        handler: action<SwarmArgs>(status) as never,
      })
      .command({
        command: 'down',
        describe: 'Stop every machine of the swarm (it comes back with `swarm up`)',
        builder: (yy) => nameOption(yy) as Argv<SwarmArgs>,
        handler: action<SwarmArgs>(down) as never,
      })
      .command({
        command: 'rm',
        describe: 'Delete every machine of the swarm, their data and the network',
        builder: (yy) => nameOption(yy).option('yes', { alias: 'y', type: 'boolean', describe: 'do not refuse' }) as unknown as Argv<SwarmArgs>,
        handler: action<SwarmArgs & { yes?: boolean }>(remove) as never,
      })
      .demandCommand(1, 'Give a swarm command: up, status, down, rm') as Argv<SwarmArgs>,
  handler: () => undefined,
};
