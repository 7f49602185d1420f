import { isProcessAlive, processCommandLine } from '../util/process-alive.js';
import { SUPERVISOR_NAME } from './supervisor.js';

export { isProcessAlive as pidAlive };

/**
 * A pid file can outlive its process and the pid be reused by anything: only a
 * process running our entry with this spec file is ours to signal. The
 * supervisor's command line names the entry and spec too: it is told apart.
 */
export async function isAgentProcess(pid: number, specPath: string): Promise<boolean> {
  const cmd = await processCommandLine(pid);
  return cmd !== undefined && cmd.includes('agent/main.js') && cmd.includes(specPath) && !cmd.includes(SUPERVISOR_NAME);
}
