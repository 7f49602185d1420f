import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './proc.js';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const skiffBin = path.join(root, 'bin', 'skiff.js');

/**
 * A throwaway skiff installation (own SKIFF_HOME, runtime dir and DOCKER_CONFIG),
 * driven through the CLI exactly as a user would.
 */
export class BenchSkiff {
  static async create() {
    const base = await mkdtemp(path.join(os.tmpdir(), 'skb-'));
    return new BenchSkiff(base);
  }

  constructor(base) {
    this.base = base;
    this.env = {
      ...process.env,
      SKIFF_HOME: path.join(base, 'h'),
      SKIFF_RUNTIME_DIR: path.join(base, 'r'),
      DOCKER_CONFIG: path.join(base, 'd'),
    };
    this.machineDir = path.join(this.env.SKIFF_HOME, 'machines', 'default');
  }

  /** `node bin/skiff.js ARGS` with this installation's environment; resolves with code, output and wall ms. */
  cli(args, opts = {}) {
    return run(process.execPath, [...(opts.nodeArgs ?? []), skiffBin, ...args], { env: this.env, cwd: root });
  }

  async mustCli(args) {
    const r = await this.cli(args);
    if (r.code !== 0) throw new Error(`skiff ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
    return r;
  }

  /** The environment as a user would type it before the commands in RESULTS.md. */
  envPrefix() {
    return `SKIFF_HOME=${this.env.SKIFF_HOME} SKIFF_RUNTIME_DIR=${this.env.SKIFF_RUNTIME_DIR} DOCKER_CONFIG=${this.env.DOCKER_CONFIG}`;
  }

  async status() {
    const r = await this.mustCli(['status', '--json']);
    return JSON.parse(r.stdout);
  }

  /** The agent's pid: agent.pid in the machine's runtime dir (next to docker.sock). */
  async agentPid() {
    const st = await this.status();
    const pidFile = path.join(path.dirname(st.socket), 'agent.pid');
    return Number((await readFile(pidFile, 'utf8')).trim());
  }

  /** SKIFF-READY / SKIFF-STAGE uptimes from the guest console of the last boot. */
  async consoleMarkers() {
    const text = await readFile(path.join(this.machineDir, 'console.log'), 'utf8').catch(() => '');
    return parseConsole(text);
  }

  async destroy() {
    // delete stops a running machine (and its agent) first.
    await this.cli(['delete', '--yes']);
    await rm(this.base, { recursive: true, force: true });
  }
}

export function parseConsole(text) {
  const stages = [];
  let ready;
  for (const line of text.split('\n')) {
    let m = /SKIFF-STAGE (\S+) ([\d.]+)/.exec(line);
    if (m) stages.push({ stage: m[1], uptime: Number(m[2]) });
    m = /SKIFF-READY ([\d.]+)/.exec(line);
    if (m) ready = Number(m[1]);
  }
  return { stages, ready };
}
