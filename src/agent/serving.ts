import { readFile } from 'node:fs/promises';
import { readPidFile } from '../util/pid-file.js';
import { isAgentProcess, pidAlive } from './process.js';
import { agentSpecPath } from './spec-path.js';

/**
 * The guest endpoint a live agent of ours connects to, from its pid and spec
 * files; undefined when no such agent runs. Cheap on purpose (no schema library,
 * no ssh2): the fast `start` path asks it.
 */
export async function liveAgentEndpoint(paths: { agentPid: string }): Promise<{ host: string; port: number } | undefined> {
  const specFile = agentSpecPath({ pidPath: paths.agentPid });
  const pid = await readPidFile(paths.agentPid);
  if (pid === undefined || !pidAlive(pid) || !(await isAgentProcess(pid, specFile))) return undefined;
  try {
    const spec = JSON.parse(await readFile(specFile, 'utf8')) as { sshHost: string; sshPort: number };
    return { host: spec.sshHost, port: spec.sshPort };
  } catch {
    return undefined;
  }
}
