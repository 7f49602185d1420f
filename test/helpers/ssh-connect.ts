import { connectSsh, loadSshTarget, type SshConnection } from '../../src/ssh/connect.js';
import { isHostKeyChanged } from '../../src/ssh/hostkey.js';

/**
 * Connects to a test sshd that may still be coming up. skiff itself never waits
 * like this (its agent's link retries), so the loop lives with the tests.
 */
export async function connectWhenUp(
  endpoint: { host: string; port: number; user: string },
  keyPath: string,
  hostPubPath: string,
  timeoutMs: number,
): Promise<SshConnection> {
  const target = await loadSshTarget({ ...endpoint, keyPath, hostPubPath });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await connectSsh(target);
    } catch (e) {
      if (isHostKeyChanged(e) || Date.now() > deadline) throw e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
