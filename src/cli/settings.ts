import { readUserSettingsFile, validateUserSettings, type UserSettings } from '../machine/config.js';
import type { GlobalArgs } from './context.js';

/** What `init` (and `start`, `swarm up`, which create machines) take from the command line. */
export interface InitArgs extends GlobalArgs {
  cpus?: number;
  memory?: string;
  disk?: string;
  driver?: string;
  arch?: string;
  binfmt?: boolean;
  watch?: boolean;
  iso?: string;
  checksum?: string;
  share?: string[];
  /** false with --no-shares (yargs' boolean negation). */
  shares?: boolean;
  shareFs?: string;
  config?: string;
  network?: string;
  /** The ssh driver (`init` only). */
  host?: string;
  identity?: string;
  hostKey?: string;
  engineSocket?: string;
}

/** Settings from --config, then flags on top, all checked before anything is created. */
export async function settingsFrom(argv: InitArgs): Promise<UserSettings> {
  const fromFile = argv.config ? await readUserSettingsFile(argv.config) : {};
  const flags: Record<string, unknown> = {};
  for (const k of ['cpus', 'memory', 'disk', 'driver', 'arch', 'binfmt', 'watch', 'iso', 'checksum', 'network', 'shareFs'] as const) {
    if (argv[k] !== undefined) flags[k] = argv[k];
  }
  if (argv.share !== undefined) flags.shares = argv.share;
  if (argv.shares === false) flags.shares = false;
  return validateUserSettings({ ...fromFile, ...flags }, 'options');
}
