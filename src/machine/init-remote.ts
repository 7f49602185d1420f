import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { ExitCode, SkiffError } from '../errors.js';
import { machineFlag, machinePaths, machinesDir } from '../layout/paths.js';
import { surveyHost, chooseEngineSocket, engineVersionOver } from '../remote/engine-socket.js';
import { checkFingerprint, hostKeyFile, normaliseFingerprint, offeredHostKey, type OfferedKey } from '../remote/first-contact.js';
import { formatHostAddress, type HostAddress } from '../remote/host.js';
import { chooseAuth } from '../remote/login.js';
import { connectSsh } from '../ssh/connect.js';
import { exists } from '../util/exists.js';
import { saveMachineConfig, type RemoteConfig } from './config.js';
import { withMachineLock } from './lock.js';
import { Machine } from './machine.js';

export interface RemoteInitRequest {
  home: string;
  name: string;
  address: HostAddress;
  /** --identity; absent: the SSH agent, else the user's default key. */
  identity?: string;
  /** --host-key SHA256:...: the only key accepted. */
  hostKey?: string;
  /** --engine-socket: the engine's socket on the host, instead of looking for it. */
  engineSocket?: string;
  /**
   * Asks the user to accept a key never seen (a terminal's y/N); absent in a run
   * that cannot ask, where only --host-key can accept one.
   */
  confirm?: (key: OfferedKey, where: string) => Promise<boolean>;
  progress?: (text: string) => void;
}

export interface RemoteInitResult {
  machine: Machine;
  hostKey: OfferedKey;
  engine: { version: string; apiVersion: string };
}

/**
 * Makes machine NAME of an existing host: its key accepted by the user, a login,
 * the engine's socket found and answering. Everything is checked before a file
 * is written; the config comes last, so a failure leaves nothing behind.
 */
export async function initRemoteMachine(req: RemoteInitRequest): Promise<RemoteInitResult> {
  const paths = machinePaths(req.home, req.name);
  const where = formatHostAddress(req.address);
  const expected = req.hostKey === undefined ? undefined : normaliseFingerprint(req.hostKey);
  const auth = await chooseAuth(req.identity);
  if (await exists(paths.config)) throw existsError(req.name);

  req.progress?.(`reading the host key of ${where}`);
  const offered = await offeredHostKey(req.address);
  if (expected !== undefined) checkFingerprint(offered, expected, where);
  else if (!req.confirm) {
    throw new SkiffError('host-key-unconfirmed', `${where} offers host key ${offered.fingerprint} (${offered.type}); skiff pins a host key only once you confirm it`, {
      hint: `check it on the host (\`ssh-keygen -lf ${hostKeyFile(offered.type)}\`), then run again with --host-key ${offered.fingerprint}`,
      exitCode: ExitCode.usage,
    });
  } else if (!(await req.confirm(offered, where))) {
    throw new SkiffError('host-key-rejected', `host key ${offered.fingerprint} of ${where} not accepted: nothing saved`, { exitCode: ExitCode.usage });
  }

  req.progress?.(`logging in to ${where}`);
  const target = {
    host: req.address.host,
    port: req.address.port,
    user: req.address.user,
    ...(auth.identity ? { privateKey: await readFile(auth.identity) } : {}),
    ...(auth.agent ? { agent: auth.agent } : {}),
    hostKey: { blob: offered.blob, fingerprint: offered.fingerprint },
    remote: true,
  };
  const conn = await connectSsh(target, { readyTimeoutMs: 20_000 });
  let engineSocket: string;
  let arch: string;
  let engine: { version: string; apiVersion: string };
  try {
    req.progress?.(`looking for the Docker engine on ${where}`);
    const survey = await surveyHost(conn, req.engineSocket);
    engineSocket = chooseEngineSocket(survey, where, req.engineSocket);
    engine = await engineVersionOver(conn, engineSocket, where);
    arch = survey.arch || 'unknown';
  } finally {
    conn.client.end();
  }

  const config: RemoteConfig = {
    version: 1,
    name: req.name,
    driver: 'ssh',
    arch,
    remote: { host: req.address.host, port: req.address.port, user: req.address.user, ...(auth.identity ? { identity: auth.identity } : {}), engineSocket },
    shares: [],
    binfmt: false,
    watch: false,
    createdAt: new Date().toISOString(),
  };
  await mkdir(machinesDir(req.home), { recursive: true, mode: 0o700 });
  const machine = await withMachineLock(machinesDir(req.home), req.name, async () => {
    if (await exists(paths.config)) throw existsError(req.name);
    // A leftover of an interrupted init (no config) holds nothing of value: cleared.
    await rm(paths.dir, { recursive: true, force: true });
    try {
      await mkdir(paths.dir, { recursive: true, mode: 0o700 });
      await writeFile(paths.hostPub, offered.line, { mode: 0o644 });
      await saveMachineConfig(paths.config, config);
    } catch (e) {
      await rm(paths.dir, { recursive: true, force: true });
      throw e;
    }
    return Machine.fromConfig(req.home, paths, config);
  });
  return { machine, hostKey: offered, engine };
}

function existsError(name: string): SkiffError {
  return new SkiffError('exists', `machine "${name}" already exists`, {
    hint: `start it with \`skiff start${machineFlag(name)}\`, or delete it first`,
    exitCode: ExitCode.conflict,
  });
}
