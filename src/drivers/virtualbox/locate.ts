import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, SkiffError } from '../../errors.js';

const INSTALL_HINT =
  'install VirtualBox 6.1 or newer from https://www.virtualbox.org/wiki/Downloads (or your package manager), or set SKIFF_VBOXMANAGE to its VBoxManage, or use --driver qemu';

/** Where VBoxManage may live besides PATH: installers on Windows and macOS do not always put it there. */
function extraDirs(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string[] {
  if (platform === 'win32') {
    return [env.VBOX_MSI_INSTALL_PATH, env.VBOX_INSTALL_PATH].filter((d): d is string => !!d);
  }
  if (platform === 'darwin') return ['/usr/local/bin', '/Applications/VirtualBox.app/Contents/MacOS'];
  return [];
}

async function isExecutable(file: string, platform: NodeJS.Platform): Promise<boolean> {
  try {
    await access(file, platform === 'win32' ? constants.F_OK : constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds VBoxManage: $SKIFF_VBOXMANAGE, then PATH (as VBoxManage, then vboxmanage,
 * which some Linux packages install), then the platform's install dirs.
 */
export async function locateVBoxManage(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): Promise<string> {
  const override = env.SKIFF_VBOXMANAGE;
  if (override) {
    if (await isExecutable(override, platform)) return override;
    throw new SkiffError('vbox-missing', `SKIFF_VBOXMANAGE points at ${override}, which is not an executable`, {
      hint: 'fix or unset SKIFF_VBOXMANAGE',
      exitCode: ExitCode.environment,
    });
  }
  const names = platform === 'win32' ? ['VBoxManage.exe'] : ['VBoxManage', 'vboxmanage'];
  const dirs = (env.PATH ?? env.Path ?? '').split(path.delimiter).filter((d) => d !== '');
  for (const name of names) {
    for (const dir of [...dirs, ...extraDirs(env, platform)]) {
      const file = path.join(dir, name);
      if (await isExecutable(file, platform)) return file;
    }
  }
  throw new SkiffError('vbox-missing', 'VirtualBox is not installed: VBoxManage was not found', {
    hint: INSTALL_HINT,
    exitCode: ExitCode.environment,
  });
}
