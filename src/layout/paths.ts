import os from 'node:os';
import path from 'node:path';
import { ExitCode, SkiffError } from '../errors.js';

/** Where everything of one skiff installation lives. */
export function skiffHome(explicit?: string): string {
  const home = explicit ?? process.env.SKIFF_HOME;
  if (home !== undefined && home !== '') return path.resolve(home);
  return path.join(os.homedir(), '.skiff');
}

// Short on purpose: the name ends up inside unix socket paths (~104 bytes at most).
const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export function validateMachineName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new SkiffError(
      'invalid-name',
      `invalid machine name ${JSON.stringify(name)}`,
      {
        hint: 'use 1-32 characters: lowercase letters, digits, "-" and "_", starting with a letter or digit',
        exitCode: ExitCode.usage,
      },
    );
  }
  return name;
}

/** "" for the default machine, " -m NAME" otherwise: for hints that show a command to run. */
export function machineFlag(name: string): string {
  return name === 'default' ? '' : ` -m ${name}`;
}

export interface MachinePaths {
  name: string;
  home: string;
  /** machines/NAME: config, disk, keys, logs. */
  dir: string;
  config: string;
  /** The private key skiff logs in with, and its public half. */
  sshKey: string;
  sshPub: string;
  /**
   * The guest's host key pair; the host generates it so it knows it before the
   * first connection. For a remote host (the ssh driver) only the .pub, holding
   * the key of whatever type the user accepted at init.
   */
  hostKey: string;
  hostPub: string;
  /** The user-data seed (magic + tar) the data disk starts with. */
  seed: string;
  /** Console (serial) log of the guest. */
  consoleLog: string;
  agentLog: string;
  /** How the last VM run ended without `skiff stop`, written by its agent (agent/vm-end.ts). */
  vmEnd: string;
  /** Short runtime dir for sockets and pid files; 0700. */
  runDir: string;
  /** The Docker API socket the agent serves. */
  dockerSocket: string;
  agentPid: string;
  agentState: string;
  /** Driver-owned state (ports chosen at start, pid files, ...). */
  driverDir: string;
}

export function cacheDir(home: string): string {
  return path.join(home, 'cache');
}

export function machinesDir(home: string): string {
  return path.join(home, 'machines');
}

/**
 * Unix socket paths are limited to ~104-108 bytes, so sockets live in a short
 * runtime dir, not under a possibly long $SKIFF_HOME.
 */
export function runtimeRoot(): string {
  if (process.env.SKIFF_RUNTIME_DIR) return path.resolve(process.env.SKIFF_RUNTIME_DIR);
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg && xdg.length < 48) return path.join(xdg, 'skiff');
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return path.join(os.tmpdir(), `skiff-${uid}`);
}

/**
 * Each home gets its own runtime subdir, so two SKIFF_HOMEs (tests, CI) never
 * share sockets. The key is a short hash of the home path.
 */
export function runtimeDirFor(home: string, name: string): string {
  return path.join(runtimeRoot(), homeKey(home), name);
}

function homeKey(home: string): string {
  // FNV-1a: tiny, stable and needs no crypto import on the shellinit path.
  let h = 0x811c9dc5;
  for (let i = 0; i < home.length; i++) {
    h ^= home.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36);
}

export function machinePaths(home: string, name: string): MachinePaths {
  validateMachineName(name);
  const dir = path.join(machinesDir(home), name);
  const runDir = runtimeDirFor(home, name);
  return {
    name,
    home,
    dir,
    config: path.join(dir, 'config.yaml'),
    sshKey: path.join(dir, 'id_ed25519'),
    sshPub: path.join(dir, 'id_ed25519.pub'),
    hostKey: path.join(dir, 'ssh_host_ed25519_key'),
    hostPub: path.join(dir, 'ssh_host_ed25519_key.pub'),
    seed: path.join(dir, 'seed.tar'),
    consoleLog: path.join(dir, 'console.log'),
    agentLog: path.join(dir, 'agent.log'),
    vmEnd: path.join(dir, 'vm-end.json'),
    runDir,
    dockerSocket: path.join(runDir, 'docker.sock'),
    agentPid: path.join(runDir, 'agent.pid'),
    agentState: path.join(runDir, 'agent.json'),
    driverDir: path.join(dir, 'driver'),
  };
}
