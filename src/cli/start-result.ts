import type { StartResult } from '../machine/start.js';

/** What `skiff start --json` prints, from the full command and from the fast path alike. */
export function startResultJson(name: string, r: StartResult, timings: StartResult['timings']) {
  return {
    name,
    alreadyRunning: r.alreadyRunning,
    socket: r.socket,
    dockerHost: `unix://${r.socket}`,
    context: r.context,
    ssh: r.ssh,
    timings,
    sharesNotMounted: r.sharesNotMounted,
    ...(r.recovered ? { recovered: r.recovered } : {}),
    ...(r.resumed ? { resumed: true } : {}),
    ...(r.savedStateDiscarded ? { savedStateDiscarded: r.savedStateDiscarded } : {}),
  };
}
