import path from 'node:path';
import { loadavg } from './proc.js';
import { BenchSkiff, root } from './skiff.js';
import { fmtSeconds, summarize } from './stats.js';

/**
 * `--only cold-arm64`: the aarch64 guest (iso/out/skiff-arm64.iso) under
 * qemu-system-aarch64, through the real CLI, on its own machine: the first boot
 * (formats the disk) recorded apart, then `runs` cold starts (stop, then a timed
 * `skiff start`), each with the guest's own SKIFF-READY uptime.
 */
export async function coldArm64Bench({ runs, iso = path.join(root, 'iso', 'out', 'skiff-arm64.iso'), log }) {
  const sk = await BenchSkiff.create();
  try {
    await sk.mustCli(['init', '--arch', 'aarch64', '--iso', iso, '--disk', '4G', '--no-shares']);
    const first = await sk.mustCli(['start', '--json']);
    const st = await sk.status();
    // Read after the stop: the guest may print SKIFF-READY just after the host's first
    // /_ping got its answer; the log is only rotated by the next start.
    await sk.mustCli(['stop']);
    const firstGuest = await sk.consoleMarkers();
    log(`cold-arm64 first boot (formats the disk): ${(first.ms / 1000).toFixed(1)} s, guest ready at ${firstGuest.ready} s uptime`);
    const samples = [];
    for (let i = 0; i < runs; i++) {
      const load = loadavg();
      const r = await sk.mustCli(['start', '--json']);
      await sk.mustCli(['stop']);
      const guest = await sk.consoleMarkers();
      samples.push({ ms: r.ms, load, guestReady: guest.ready });
      log(`cold-arm64 ${i + 1}/${runs}: ${(r.ms / 1000).toFixed(1)} s, guest ready at ${guest.ready} s uptime (load ${load})`);
    }
    return {
      iso,
      accel: st.accelerator,
      cpus: st.cpus,
      memoryMiB: st.memoryMiB,
      firstBoot: { ms: first.ms, guestReady: firstGuest.ready },
      wall: summarize(samples.map((x) => x.ms)),
      guestReady: summarize(samples.map((x) => x.guestReady * 1000)),
      runs: samples,
    };
  } finally {
    await sk.destroy();
  }
}

const BEGIN = '<!-- cold-arm64: written by node bench/run.js --only cold-arm64 -->';
const END = '<!-- /cold-arm64 -->';

/** The section's Markdown, between markers so a later run replaces only it. */
export function renderColdArm64(r, when) {
  const lines = [
    BEGIN,
    '## Cold start, aarch64 guest (issue 11)',
    '',
    `Measured ${when}: \`skiff init --arch aarch64\` with iso/out/skiff-arm64.iso, ${r.cpus} vCPUs, ${r.memoryMiB} MiB, accelerator ${r.accel}`,
    `(qemu-system-aarch64, \`-machine virt,gic-version=max -cpu max,pauth-impdef=on\`). Each run: \`skiff stop\`, then a timed \`skiff start\``,
    '(QEMU launch to the Docker API answering through the forwarded socket). 1-minute load at each run: ' + r.runs.map((x) => String(x.load).split(' ')[0]).join(', ') + '.',
    '',
    '| measure | value |',
    '| --- | --- |',
    `| first boot (formats the data disk), \`skiff start\` wall | ${(r.firstBoot.ms / 1000).toFixed(1)} s (guest ready at ${r.firstBoot.guestReady} s uptime) |`,
    `| cold start, \`skiff start\` wall | ${fmtSeconds(r.wall, 1)} |`,
    `| cold start, guest \`SKIFF-READY\` uptime | ${fmtSeconds(r.guestReady, 1)} |`,
    '',
    'Compare with the x86_64 guest\'s cold start above (same CLI path; q35, `-cpu max`), keeping each run\'s load in mind.',
    'What keeps the aarch64 guest near it under TCG: no firmware (QEMU loads the kernel itself on `virt`), and',
    '`pauth-impdef=on` keeps pointer authentication cheap (see iso/README.md).',
    '',
    END,
  ];
  return lines.join('\n');
}
