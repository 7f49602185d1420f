import { loadavg } from './proc.js';
import { BenchSkiff } from './skiff.js';
import { summarize } from './stats.js';

/**
 * `skiff swarm up --nodes N` timed as a user runs it: from nothing (creates the
 * machines, first boots format their disks), on the running swarm (a no-op), then
 * `runs` times from stopped (`swarm down`, untimed, then `swarm up`). Its own
 * throwaway skiff home, deleted at the end (`swarm rm`).
 */
export async function swarmBench({ iso, nodes, runs, log }) {
  const sk = await BenchSkiff.create();
  const up = ['swarm', 'up', '--nodes', String(nodes), '--json'];
  const first = [...up, '--iso', iso, '--disk', '4G', '--no-shares'];
  const timed = async (args) => {
    const load = loadavg();
    const r = await sk.mustCli(args);
    return { ms: r.ms, load, out: JSON.parse(r.stdout) };
  };
  try {
    const fromNothing = await timed(first);
    log(`swarm up from nothing (${nodes} nodes): ${(fromNothing.ms / 1000).toFixed(1)} s (load ${fromNothing.load})`);
    const running = await timed(up);
    log(`swarm up on the running swarm: ${(running.ms / 1000).toFixed(2)} s`);
    const stopped = [];
    for (let i = 0; i < runs; i++) {
      await sk.mustCli(['swarm', 'down']);
      const r = await timed(up);
      stopped.push({ ms: r.ms, load: r.load, steps: r.out.steps.length });
      log(`swarm up from stopped ${i + 1}/${runs}: ${(r.ms / 1000).toFixed(1)} s (load ${r.load})`);
    }
    return {
      nodes,
      commands: [`export ${sk.envPrefix()}`, `node bin/skiff.js ${first.join(' ')}`, `node bin/skiff.js ${up.join(' ')}   # running`, `node bin/skiff.js swarm down; node bin/skiff.js ${up.join(' ')}   # per stopped run`],
      fromNothing: { ms: fromNothing.ms, load: fromNothing.load, created: fromNothing.out.created, steps: fromNothing.out.steps },
      running: { ms: running.ms, steps: running.out.steps.length },
      fromStopped: { wall: summarize(stopped.map((x) => x.ms)), runs: stopped },
    };
  } finally {
    await sk.cli(['swarm', 'down']);
    await sk.cli(['swarm', 'rm', '--yes']);
    await sk.destroy();
  }
}

/** The RESULTS.md lines of the swarm measure. */
export function renderSwarm(s, f) {
  const L = ['## Swarm', ''];
  L.push(`\`skiff swarm up --nodes ${s.nodes}\`, wall time of the whole CLI process (both guests boot at once on the 2 cores, 1 TCG thread each; 2048 MiB each, 4 GiB disks):`, '');
  L.push('| from | wall | load before |', '|---|---|---|');
  L.push(`| nothing (creates ${s.fromNothing.created.length} machines, first boots format the disks, swarm init + join) | ${(s.fromNothing.ms / 1000).toFixed(1)} s | ${s.fromNothing.load} |`);
  L.push(`| stopped (\`swarm down\` first; boots, swarm state kept on the disks) | ${f(s.fromStopped.wall, 1)} | ${s.fromStopped.runs.map((r) => r.load).join('; ')} |`);
  L.push(`| running (nothing to do: ${s.running.steps} steps) | ${(s.running.ms / 1000).toFixed(2)} s | |`);
  L.push('', '```sh', 'npm run build', ...s.commands, '```', '');
  return L;
}
