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
    .option('share-fs', { type: 'string', describe: 'qemu: what carries the shares, 9p | virtiofs (default 9p; see README)' })
    .option('network', { type: 'string', describe: 'join private network NAME (a second NIC only machines on this host share)' })
    .option('config', { type: 'string', describe: 'YAML file with these settings (flags win)' });
}

/** The ssh driver's options: an existing host, not a VM. */
function remoteOptions<T>(y: Argv<T>) {
  return y
    .option('host', { type: 'string', describe: 'driver ssh: the existing host, USER@HOST[:PORT]' })
    .option('identity', { type: 'string', describe: 'driver ssh: private key to log in with (default: your SSH agent)' })
    .option('host-key', { type: 'string', describe: "driver ssh: the host key's SHA256 fingerprint to accept (asked on a terminal otherwise)" })
    .option('engine-socket', { type: 'string', describe: "driver ssh: the engine's socket on the host (default: found)" });
}

export const initCommand: CommandModule<GlobalArgs, InitArgs> = {
  command: 'init',
  describe: 'Create a machine: guest image, data disk, keys',
  builder: (y) =>
    remoteOptions(initOptions(y))
      .example('$0 init', 'create the default machine with defaults')
      .example('$0 init -m big --cpus 4 --memory 8G --disk 60G', 'a larger machine')
      .example('$0 init --iso ./skiff-amd64.iso', 'from a local image')
      .example('$0 init --config machine.yaml', 'settings from a YAML file')
      .example('$0 init -m pi --driver ssh --host pi@raspberrypi.local', 'an existing host running Docker, over SSH') as Argv<InitArgs>,
  handler: action<InitArgs>(async (argv, { home, name, out }) => {
    if (argv.host !== undefined || argv.driver === 'ssh') {
      const { initRemote } = await import('../init-remote.js');
      await initRemote(argv, { home, name, out });
      return;
    }
    const [{ settingsFrom }, { initMachine }, { resolveImageWithProgress }, { vmConfig }] = await Promise.all([
      import('../settings.js'),
      import('../../machine/init.js'),
      import('../image.js'),
      import('../../machine/config.js'),
    ]);
    const settings = await settingsFrom(argv);
    const m = await initMachine({
      home,
      name,
      settings,
      resolveImage: (src) => resolveImageWithProgress(home, out, src),
    });
    const c = vmConfig(m.config, 'create');
    out.result(
      { name: m.name, driver: c.driver, arch: c.arch, binfmt: c.binfmt, cpus: c.cpus, memoryMiB: c.memoryMiB, diskGiB: c.diskGiB, image: c.image, ...(c.shareFs ? { shareFs: c.shareFs } : {}) },
      () => `Created machine "${m.name}" (${c.driver}, ${c.arch}${c.binfmt ? ' + binfmt' : ''}, ${c.cpus} CPUs, ${c.memoryMiB} MiB, ${c.diskGiB} GiB disk${c.shareFs ? `, shares over ${c.shareFs}` : ''}).\nStart it with: skiff start${machineFlag(m.name)}`,
    );
  }),
};
