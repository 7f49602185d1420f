/**
 * The agent process: `node dist/agent/main.js --spec FILE`. Started detached by
 * control.ts; talks only through its log, pid and state files and its socket.
 */
import { errorMessage } from '../errors.js';
import { Agent } from './agent.js';
import { fileLogger, type Log } from './log.js';
import { readAgentSpec } from './spec.js';
import { watchPause } from './pause-watch.js';
import { watchVm } from './vm-watch.js';

const EXIT_FATAL = 3;
/** The VM is gone: nothing to reconnect to (supervisor.ts does not restart on it). */
const EXIT_VM_GONE = 4;

function specArg(argv: string[]): string | undefined {
  const i = argv.indexOf('--spec');
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  // Every file and socket the agent makes is for its user alone.
  process.umask(0o077);
  const specFile = specArg(process.argv.slice(2));
  if (!specFile) {
    process.exitCode = 2;
    return;
  }
  const spec = await readAgentSpec(specFile);
  const log: Log = fileLogger(spec.logPath, spec.logMaxBytes);
  log(`agent ${process.pid} starting for machine ${spec.machine}`);

  const agent = new Agent(spec, log, {
    ...(spec.keepaliveIntervalMs !== undefined ? { keepaliveIntervalMs: spec.keepaliveIntervalMs } : {}),
    ...(spec.keepaliveCountMax !== undefined ? { keepaliveCountMax: spec.keepaliveCountMax } : {}),
  });
  let exiting = false;
  const exit = async (code: number, why: string, failure?: string): Promise<void> => {
    if (exiting) return;
    exiting = true;
    log(why);
    await agent.shutdown(failure);
    log(`agent ${process.pid} exiting (${code})`);
    process.exit(code);
  };

  process.on('SIGTERM', () => void exit(0, 'SIGTERM received, shutting down'));
  process.on('SIGINT', () => void exit(0, 'SIGINT received, shutting down'));
  process.on('SIGHUP', () => void exit(0, 'SIGHUP received, shutting down'));
  process.on('uncaughtException', (e) => void exit(1, `internal error: ${e.stack ?? errorMessage(e)}`, errorMessage(e)));
  process.on('unhandledRejection', (e) => void exit(1, `internal error: ${errorMessage(e)}`, errorMessage(e)));

  const linkUp = () => agent.snapshot().state === 'connected';
  const vm = spec.vm;
  const watch = vm
    ? watchVm(vm, {
        log,
        ...(spec.vmEndPath ? { vmEndPath: spec.vmEndPath } : {}),
        ...(spec.consoleLog ? { consoleLog: spec.consoleLog } : {}),
        linkUp,
        onGone: (end) => void exit(EXIT_VM_GONE, `the VM is gone (${end.kind}): ${end.cause}; not reconnecting`),
      })
    : undefined;
  const pause = spec.pause
    ? watchPause(spec.pause, { log, linkUp: () => agent.guestAnswers(), onResumed: () => agent.vmResumed('the VM was resumed') })
    : undefined;
  process.on('exit', () => {
    watch?.stop();
    pause?.stop();
  });

  try {
    await agent.start((e) => void exit(EXIT_FATAL, `refusing to connect: ${errorMessage(e)}`, errorMessage(e)));
  } catch (e) {
    await exit(EXIT_FATAL, `cannot start: ${errorMessage(e)}`, errorMessage(e));
  }
}

void main().catch((e: unknown) => {
  // Before a log exists there is nobody to tell but the exit status.
  void e;
  process.exit(2);
});
