import { readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { action, type GlobalArgs } from '../context.js';

export function skiffVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export const versionCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'version',
  describe: "Print skiff's version",
  builder: (y) => y.example('$0 version --json', 'as JSON'),
  handler: action(async (_argv, { out }) => {
    const v = { skiff: skiffVersion(), node: process.versions.node, platform: process.platform, arch: process.arch };
    out.result(v, () => `skiff ${v.skiff} (node ${v.node}, ${v.platform}/${v.arch})`);
  }),
};
