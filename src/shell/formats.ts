import { shQuote } from '../util/sh-quote.js';

/**
 * Renders environment changes for each shell the docker client is used from.
 * Pure: no I/O, so it stays cheap on the shellinit path and easy to test.
 */
export const SHELLS = ['bash', 'zsh', 'sh', 'fish', 'powershell', 'cmd', 'tcsh', 'nu'] as const;
export type ShellName = (typeof SHELLS)[number];

export interface EnvChange {
  set: Array<[string, string]>;
  unset: string[];
}

function doubleQuote(v: string): string {
  return `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}
function psQuote(v: string): string {
  return `'${v.replaceAll("'", "''")}'`;
}

export function renderEnv(shell: ShellName, change: EnvChange): string[] {
  const lines: string[] = [];
  switch (shell) {
    case 'bash':
    case 'zsh':
    case 'sh':
      for (const [k, v] of change.set) lines.push(`export ${k}=${shQuote(v)}`);
      for (const k of change.unset) lines.push(`unset ${k}`);
      break;
    case 'fish':
      for (const [k, v] of change.set) lines.push(`set -gx ${k} ${shQuote(v)};`);
      for (const k of change.unset) lines.push(`set -e ${k};`);
      break;
    case 'tcsh':
      for (const [k, v] of change.set) lines.push(`setenv ${k} ${shQuote(v)};`);
      for (const k of change.unset) lines.push(`unsetenv ${k};`);
      break;
    case 'powershell':
      for (const [k, v] of change.set) lines.push(`$Env:${k} = ${psQuote(v)}`);
      for (const k of change.unset) lines.push(`Remove-Item Env:\\${k} -ErrorAction SilentlyContinue`);
      break;
    case 'cmd':
      // cmd takes the rest of the line verbatim; quotes would become part of the value.
      for (const [k, v] of change.set) lines.push(`SET ${k}=${v}`);
      for (const k of change.unset) lines.push(`SET ${k}=`);
      break;
    case 'nu':
      if (change.set.length) {
        lines.push(`load-env { ${change.set.map(([k, v]) => `${k}: ${doubleQuote(v)}`).join(', ')} }`);
      }
      if (change.unset.length) lines.push(`hide-env --ignore-errors ${change.unset.join(' ')}`);
      break;
  }
  return lines;
}

/** The closing comment that says how to apply the output, as docker-machine's env does. */
export function usageComment(shell: ShellName, command: string): string {
  switch (shell) {
    case 'fish':
      return `# Run this command to configure your shell:\n# ${command} | source`;
    case 'powershell':
      return `# Run this command to configure your shell:\n# & ${command} | Invoke-Expression`;
    case 'cmd':
      return `REM Run this command to configure your shell:\nREM \t@FOR /f "tokens=*" %i IN ('${command}') DO @%i`;
    case 'nu':
      return `# Run this command to configure your shell:\n# ${command} | save -f ~/.skiff-env.nu; source ~/.skiff-env.nu`;
    case 'tcsh':
      return `# Run this command to configure your shell:\n# eval \`${command}\``;
    default:
      return `# Run this command to configure your shell:\n# eval "$(${command})"`;
  }
}

/**
 * Which shell we are printing for: $SHELL's name on Unix; on Windows, PowerShell
 * sets PSModulePath for its children while cmd does not.
 */
export function detectShell(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): ShellName {
  const fromShell = env.SHELL ? (env.SHELL.split(/[\\/]/).pop() ?? '') : '';
  const base = fromShell.replace(/\.exe$/i, '').toLowerCase();
  if (base === 'csh') return 'tcsh';
  if (base === 'pwsh') return 'powershell';
  if (base === 'dash' || base === 'ash' || base === 'ksh' || base === 'mksh') return 'sh';
  if ((SHELLS as readonly string[]).includes(base)) return base as ShellName;
  if (platform === 'win32') return env.PSModulePath ? 'powershell' : 'cmd';
  return 'sh';
}

export const DOCKER_VARS_CLEARED = ['DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_CONTEXT'] as const;

export function dockerEnv(socketPath: string, machine: string): EnvChange {
  return {
    set: [
      ['DOCKER_HOST', `unix://${socketPath}`],
      ['SKIFF_MACHINE', machine],
    ],
    unset: [...DOCKER_VARS_CLEARED],
  };
}

export function dockerEnvUnset(): EnvChange {
  return { set: [], unset: ['DOCKER_HOST', 'SKIFF_MACHINE', ...DOCKER_VARS_CLEARED] };
}
