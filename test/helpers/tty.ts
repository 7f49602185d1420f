import { execFile } from 'node:child_process';
import { BIN } from './cli.js';

/**
 * Runs the CLI on a pseudo-terminal (util-linux `script`), where notices, the
 * spinner and the download bar are shown. The terminal gets a size first: a
 * 0-column pty makes the spinner redraw without end. Output comes back without
 * escape sequences, carriage returns turned into line breaks.
 */
export function skiffOnTty(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  opts: { bin?: string; cwd?: string; input?: string } = {},
): Promise<{ code: number; output: string }> {
  const quote = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;
  const cmd = ['exec', ...[process.execPath, opts.bin ?? BIN, ...args].map(quote)].join(' ');
  return new Promise((resolve) => {
    const child = execFile(
      'script',
      ['-qec', `stty cols 120 rows 40; ${cmd}`, '/dev/null'],
      { env: { ...process.env, NO_COLOR: '1', ...env }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, ...(opts.cwd ? { cwd: opts.cwd } : {}) },
      (err, stdout) => {
        // eslint-disable-next-line no-control-regex
        const output = stdout.toString().replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '\n').replace(/\n{2,}/g, '\n');
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output });
      },
    );
    // Typed ahead: the terminal holds it until the program reads.
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
