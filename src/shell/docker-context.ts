import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';
import { readTextIfExists } from '../util/exists.js';

/** `skiff` for the default machine, `skiff-NAME` for the others. */
export function contextName(machine: string): string {
  return machine === 'default' ? 'skiff' : `skiff-${machine}`;
}

function dockerConfigDir(): string {
  return process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
}

/** Where the docker CLI keeps a context's metadata: contexts/meta/<sha256(name)>/meta.json. */
function metaDir(name: string): string {
  return path.join(dockerConfigDir(), 'contexts', 'meta', createHash('sha256').update(name).digest('hex'));
}

/**
 * Creates or updates the machine's docker context. Written directly in the CLI's
 * own format (stable since Docker 19.03) rather than by running `docker context`,
 * which costs a process start and needs the CLI to be installed.
 */
export async function updateDockerContext(machine: string, socketPath: string, opts: { use: boolean }): Promise<string> {
  const name = contextName(machine);
  const meta = {
    Name: name,
    Metadata: { Description: `skiff machine ${machine}` },
    Endpoints: { docker: { Host: `unix://${socketPath}`, SkipTLSVerify: false } },
  };
  const dir = metaDir(name);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await writeFileAtomic(path.join(dir, 'meta.json'), JSON.stringify(meta));
  if (opts.use) await setCurrentContext(name);
  return name;
}

export async function removeDockerContext(machine: string): Promise<void> {
  const name = contextName(machine);
  await rm(metaDir(name), { recursive: true, force: true });
  const cfg = await readDockerConfig();
  if (cfg?.currentContext === name) await setCurrentContext(undefined);
}

async function readDockerConfig(): Promise<Record<string, unknown> | undefined> {
  const text = await readTextIfExists(path.join(dockerConfigDir(), 'config.json'));
  return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
}

/** Edits only `currentContext`, keeping every other setting of the user's docker config. */
async function setCurrentContext(name: string | undefined): Promise<void> {
  const cfg = (await readDockerConfig()) ?? {};
  if (name === undefined) delete cfg.currentContext;
  else cfg.currentContext = name;
  await mkdir(dockerConfigDir(), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path.join(dockerConfigDir(), 'config.json'), JSON.stringify(cfg, null, '\t') + '\n', { mode: 0o600 });
}
