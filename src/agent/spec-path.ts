import path from 'node:path';

/**
 * The spec file lives beside the pid file, so `stop` can tell our agent by its
 * command line. Kept apart from spec.ts (and its schema library) for the fast
 * `start` path, which only needs this name.
 */
export function agentSpecPath(spec: { pidPath: string }): string {
  return path.join(path.dirname(spec.pidPath), 'agent.spec.json');
}
