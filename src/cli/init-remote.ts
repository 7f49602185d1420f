import { ExitCode, SkiffError } from '../errors.js';
import { machineFlag } from '../layout/paths.js';
import { parseHostAddress } from '../remote/host.js';
import type { CommandContext } from './context.js';
import type { InitArgs } from './settings.js';

/** VM settings a remote host has no use for: given with --host, they are a mistake to say, not to drop. */
const VM_ONLY = ['cpus', 'memory', 'disk', 'arch', 'binfmt', 'watch', 'iso', 'checksum', 'share', 'shares', 'network', 'config'] as const;

/** `skiff init --driver ssh --host USER@HOST[:PORT]`: a machine of an existing host. */
export async function initRemote(argv: InitArgs, { home, name, out }: CommandContext): Promise<void> {
  if (argv.driver !== undefined && argv.driver !== 'ssh') {
    throw new SkiffError('invalid-settings', `--host names an existing host, which the ${argv.driver} driver cannot use`, {
      hint: 'use --driver ssh (or leave out --driver) with --host',
      exitCode: ExitCode.usage,
    });
  }
  for (const k of ['host', 'identity', 'hostKey', 'engineSocket'] as const) {
    if (Array.isArray(argv[k])) {
      throw new SkiffError('invalid-settings', `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is given more than once`, { hint: 'give it once', exitCode: ExitCode.usage });
    }
  }
  if (argv.host === undefined) {
    throw new SkiffError('invalid-settings', 'the ssh driver reaches an existing host: it needs --host USER@HOST', {
      hint: 'e.g. skiff init -m pi --driver ssh --host pi@raspberrypi.local',
      exitCode: ExitCode.usage,
    });
  }
  const vmOnly = VM_ONLY.filter((k) => argv[k] !== undefined).map((k) => (k === 'shares' ? '--no-shares' : `--${k}`));
  if (vmOnly.length) {
    throw new SkiffError('invalid-settings', `${vmOnly.join(', ')} ${vmOnly.length > 1 ? 'are settings' : 'is a setting'} of a VM, not of an existing host`, {
      hint: 'leave them out with --host: the host has its own CPUs, memory, disk and images',
      exitCode: ExitCode.usage,
    });
  }
  const address = parseHostAddress(argv.host);
  const [{ initRemoteMachine }, { hostKeyFile }, { StageReporter }, { terminalConfirm }] = await Promise.all([
    import('../machine/init-remote.js'),
    import('../remote/first-contact.js'),
    import('../ui/stages.js'),
    import('../ui/confirm.js'),
  ]);
  const ask = out.interactive ? terminalConfirm() : undefined;
  const ui = await StageReporter.create(out.interactive, out.color);
  try {
    const r = await initRemoteMachine({
      home,
      name,
      address,
      ...(argv.identity !== undefined ? { identity: argv.identity } : {}),
      ...(argv.hostKey !== undefined ? { hostKey: argv.hostKey } : {}),
      ...(argv.engineSocket !== undefined ? { engineSocket: argv.engineSocket } : {}),
      ...(ask
        ? {
            confirm: async (key, where) => {
              ui.pause();
              process.stderr.write(`The host key of ${where} is ${key.type} ${key.fingerprint}.\nCheck it on the host: ssh-keygen -lf ${hostKeyFile(key.type)}\n`);
              return ask(`Trust it and make machine "${name}" of this host?`);
            },
          }
        : {}),
      progress: (text) => ui.stage('init', text),
    });
    ui.succeed(`Machine "${name}" is ${argv.host}`);
    const c = r.machine.config;
    out.result(
      {
        name,
        driver: c.driver,
        arch: c.arch,
        ...(c.driver === 'ssh' ? { remote: c.remote } : {}),
        hostKey: r.hostKey.fingerprint,
        engine: r.engine,
      },
      () =>
        `Created machine "${name}" of ${argv.host} (${c.arch}, Docker ${r.engine.version}, host key ${r.hostKey.fingerprint}).\nConnect with: skiff start${machineFlag(name)}`,
    );
  } catch (e) {
    ui.fail();
    throw e;
  }
}
