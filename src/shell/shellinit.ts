import { existsSync } from 'node:fs';
import { ExitCode, SkiffError } from '../errors.js';
import { machineFlag, machinePaths } from '../layout/paths.js';
import { detectShell, dockerEnv, dockerEnvUnset, renderEnv, SHELLS, usageComment, type ShellName } from './formats.js';

export interface ShellinitRequest {
  home: string;
  name: string;
  shell?: string;
  unset: boolean;
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
}

export interface ShellinitResult {
  shell: ShellName;
  text: string;
  set: Record<string, string>;
  unset: string[];
  socketExists: boolean;
}

export function checkShell(shell: string): ShellName {
  if (!(SHELLS as readonly string[]).includes(shell)) {
    throw new SkiffError('invalid-shell', `unknown shell ${JSON.stringify(shell)}`, {
      hint: `choose one of: ${SHELLS.join(', ')}`,
      exitCode: ExitCode.usage,
    });
  }
  return shell as ShellName;
}

/**
 * What `skiff shellinit` prints. Kept free of config parsing and driver code: it
 * runs in every new terminal, so it only computes paths and checks two files.
 */
export function shellinit(req: ShellinitRequest): ShellinitResult {
  const shell = req.shell === undefined ? detectShell(req.env, req.platform) : checkShell(req.shell);
  const paths = machinePaths(req.home, req.name);
  if (!req.unset && !existsSync(paths.config)) {
    throw new SkiffError('no-machine', `machine "${req.name}" does not exist`, {
      hint: `create and start it with \`skiff start${machineFlag(req.name)}\``,
      exitCode: ExitCode.notFound,
    });
  }
  const change = req.unset ? dockerEnvUnset() : dockerEnv(paths.dockerSocket, req.name);
  const flags = `${machineFlag(req.name)}${req.shell ? ` --shell ${shell}` : ''}${req.unset ? ' --unset' : ''}`;
  const text = [...renderEnv(shell, change), usageComment(shell, `skiff shellinit${flags}`)].join('\n') + '\n';
  return {
    shell,
    text,
    set: Object.fromEntries(change.set),
    unset: change.unset,
    socketExists: existsSync(paths.dockerSocket),
  };
}
