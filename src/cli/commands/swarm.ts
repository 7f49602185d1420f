import type { Argv, CommandModule } from 'yargs';
import { action, type CommandContext, type GlobalArgs } from '../context.js';
import { initOptions, type InitArgs } from './init.js';

export interface SwarmArgs extends InitArgs {
  name: string;
  nodes?: number;
  machines?: string;
  advertiseAddr?: string;
}

async function reporter(ctx: CommandContext) {
  const { StageReporter } = await import('../../ui/stages.js');
  return StageReporter.create(ctx.out.interactive, ctx.out.color);
}

async function up(argv: SwarmArgs, ctx: CommandContext): Promise<void> {
  const [{ settingsFrom }, { resolveImageWithProgress }, { swarmUpAny }, { renderSwarmStatus }] = await Promise.all([
    import('../settings.js'),
    import('../image.js'),
    import('../../swarm/up-any.js'),
    import('../../swarm/status.js'),
  ]);
  const settings = await settingsFrom(argv);
  const ui = await reporter(ctx);
  const t0 = performance.now();
  try {
    ui.stage('swarm', `swarm ${argv.name}: checking`);
    const r = await swarmUpAny({
      home: ctx.home,
      swarm: argv.name,
      nodes: argv.nodes,
      machines: argv.machines,
      advertiseAddr: argv.advertiseAddr,
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
    const gone = r.missing.length ? `; ${r.missing.join(', ')} no longer exist${r.missing.length > 1 ? '' : 's'}` : '';
    ui.succeed(`Swarm "${argv.name}" stopped (${r.machines.map((m) => m.machine).join(', ')}${gone})`);
    ctx.out.result({ name: argv.name, machines: r.machines, ...(r.missing.length ? { missing: r.missing } : {}) }, () => '');
  } catch (e) {
    ui.fail();
    throw e;
  }
}

async function remove(argv: SwarmArgs & { yes?: boolean }, ctx: CommandContext): Promise<void> {
  const [{ swarmRemove, confirmRemove }, { removedText }] = await Promise.all([import('../../swarm/down.js'), import('../../swarm/remove-text.js')]);
  if (!argv.yes) throw await confirmRemove(ctx.home, argv.name);
  const ui = await reporter(ctx);
  ui.stage('rm', `removing swarm ${argv.name}`);
  try {
    const r = await swarmRemove(ctx.home, argv.name);
    ui.succeed(removedText(argv.name, r));
    // Off a terminal too: that the machines stay is news a script's log should keep.
    ctx.out.result({ name: argv.name, ...r }, () => ('left' in r && !ctx.out.interactive ? removedText(argv.name, r) : ''));
  } catch (e) {
    ui.fail();
    throw e;
  }
}

function nameOption<T>(y: Argv<T>) {
  return y.option('name', { type: 'string', default: 'swarm', describe: 'the swarm: machines NAME-1..NAME-N on network NAME, or the existing machines swarm up --machines recorded under NAME' });
}

export const swarmCommand: CommandModule<GlobalArgs, SwarmArgs> = {
  command: 'swarm <command>',
  describe: 'Several machines as one Docker Swarm (NAME-1, or the first of --machines, is the manager)',
  builder: (y) =>
    y
      .command({
        command: 'up',
        describe: 'Create (or take with --machines), start and join the machines (again: repairs, or returns at once)',
        builder: (yy) =>
          initOptions(nameOption(yy))
            .option('nodes', {
              type: 'number',
              describe: 'how many machines (default: as many as the swarm has, 2 for a new one); fewer than it has is refused: a swarm does not shrink',
            })
            .option('machines', {
              type: 'string',
              describe: 'A,B,...: a swarm of these existing machines, of any driver (A is the manager); not with --nodes or init options',
            })
            .option('advertise-addr', {
              type: 'string',
              describe: "with --machines: the manager's address the workers join at (default: one every worker reaches)",
            })
            .example('$0 swarm up --nodes 3', 'swarm-1 (manager), swarm-2, swarm-3')
            .example('$0 swarm up --name lab --machines a,b,c', 'a swarm of machines a (manager), b and c, which exist') as Argv<SwarmArgs>,
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
        describe: 'Stop every machine of the swarm (it comes back with `swarm up`); a remote host is disconnected, not stopped',
        builder: (yy) => nameOption(yy) as Argv<SwarmArgs>,
        handler: action<SwarmArgs>(down) as never,
      })
      .command({
        command: 'rm',
        describe: "Delete every machine of skiff's own swarm, their data and the network; a swarm of existing machines (--machines) is taken apart instead: they leave it and are kept",
        builder: (yy) => nameOption(yy).option('yes', { alias: 'y', type: 'boolean', describe: 'do not refuse' }) as unknown as Argv<SwarmArgs>,
        handler: action<SwarmArgs & { yes?: boolean }>(remove) as never,
      })
      .demandCommand(1, 'Give a swarm command: up, status, down, rm') as Argv<SwarmArgs>,
  handler: () => undefined,
};
