import { execFile } from 'node:child_process';

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the host's real docker CLI against the given DOCKER_HOST. */
export function docker(dockerHost: string, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<DockerResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'docker',
      args,
      {
        env: { ...process.env, ...opts.env, DOCKER_HOST: dockerHost, DOCKER_CONTEXT: '', DOCKER_TLS_VERIFY: '', DOCKER_CLI_HINTS: 'false' },
        timeout: opts.timeoutMs ?? 180_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
