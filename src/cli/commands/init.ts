import type { Argv, CommandModule } from 'yargs';
import { action, machineFlag, type GlobalArgs } from '../context.js';
import type { InitArgs } from '../settings.js';

export type { InitArgs };

export function initOptions<T>(y: Argv<T>) {
  return y
    .option('cpus', { type: 'number', describe: 'virtual CPUs (default 2)' })
    .option('memory', { type: 'string', describe: 'memory, e.g. 2G or 2048 (MiB) (default 2G)' })
    .option('disk', { type: 'string', describe: 'data disk size, e.g. 20G (default 20G)' })
    .option('driver', { type: 'string', describe: 'hypervisor: qemu | virtualbox (default qemu)' })
    .option('arch', { type: 'string', describe: "guest architecture: x86_64 | aarch64 (default: the host's)" })
    .option('binfmt', { type: 'boolean', describe: 'run images of the other architecture (QEMU user mode in the guest; default off)' })
    .option('watch', { type: 'boolean', describe: 'replay host edits in shared folders for file watchers in containers (default on; --no-watch)' })
    .option('iso', { type: 'string', describe: 'guest image: URL or path (default: SKIFF_ISO_URL, a local build, the release)' })
    .option('checksum', { type: 'string', describe: 'expected image checksum, sha256:HEX' })
    .option('share', { type: 'string', array: true, describe: 'host folder visible in the guest: HOST[:GUEST][:ro] (default: your home)' })
    .option('shares', { type: 'boolean', describe: 'share host folders with the guest; --no-shares for none' })
    .option('network', { type: 'string', describe: 'join private network NAME (a second NIC only machines on this host share)' })
    .option('config', { type: 'string', describe: 'YAML file with these settings (flags win)' });
}

export const initCommand: CommandModule<GlobalArgs, InitArgs> = {
  command: 'init',
  describe: 'Create a machine: guest image, data disk, keys',
  builder: (y) =>
    initOptions(y)
      .example('$0 init', 'create the default machine with defaults')
      .example('$0 init -m big --cpus 4 --memory 8G --disk 60G', 'a larger machine')
      .example('$0 init --iso ./skiff-amd64.iso', 'from a local image')
      .example('$0 init --config machine.yaml', 'settings from a YAML file') as Argv<InitArgs>,
  handler: action<InitArgs>(async (argv, { home, name, out }) => {
    const [{ settingsFrom }, { initMachine }, { resolveImageWithProgress }] = await Promise.all([
      import('../settings.js'),
      import('../../machine/init.js'),
      import('../image.js'),
    ]);
    const settings = await settingsFrom(argv);
    const m = await initMachine({
      home,
      name,
      settings,
      resolveImage: (src) => resolveImageWithProgress(home, out, src),
    });
    out.result(
      { name: m.name, driver: m.config.driver, arch: m.config.arch, binfmt: m.config.binfmt, cpus: m.config.cpus, memoryMiB: m.config.memoryMiB, diskGiB: m.config.diskGiB, image: m.config.image },
      () => `Created machine "${m.name}" (${m.config.driver}, ${m.config.arch}${m.config.binfmt ? ' + binfmt' : ''}, ${m.config.cpus} CPUs, ${m.config.memoryMiB} MiB, ${m.config.diskGiB} GiB disk).\nStart it with: skiff start${machineFlag(m.name)}`,
    );
  }),
};
