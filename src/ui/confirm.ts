import readline from 'node:readline/promises';

/**
 * A yes/no question on the terminal, answered on stdin; undefined when there is
 * no one to ask (stdin or stderr is not a terminal), so the caller can refuse
 * instead of guessing. Only "y" or "yes" is a yes; end of input is a no.
 */
export function terminalConfirm(): ((question: string) => Promise<boolean>) | undefined {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  return async (question) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    try {
      const answer = await rl.question(`${question} [y/N] `);
      return /^\s*y(es)?\s*$/i.test(answer);
    } catch {
      return false; // Ctrl+D or Ctrl+C: not a yes
    } finally {
      rl.close();
    }
  };
}
