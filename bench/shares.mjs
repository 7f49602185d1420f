#!/usr/bin/env node
/**
 * Shared folders against the VM's own disk (issue 23), on one booted machine:
 *
 *   node bench/shares.mjs [--copies 3] [--big-mib 1024] [--variants default,msize256k,msize1m,loose,none]
 *     [--virtiofs auto,always+writeback,none] [--virtiofsd /usr/lib/qemu/virtiofsd] [--iso PATH] [--out bench/shares.results.md]
 *
 * The first row after the VM's disk is the share as skiff itself serves and
 * mounts it (9p; SKIFF_SHARE_FS=virtiofs in the environment measures virtiofs
 * there instead).
 *
 * Small files: a tar of `--copies` copies of skiff's own node_modules (installed
 * from the npm cache by `npm ci`, 3,633 files each) is unpacked into the directory
 * under test, then every file is read back (after dropping the guest's caches).
 * Sequential: `--big-mib` MiB written with dd (fsync at the end), then read back
 * after dropping caches. Each 9p variant remounts the same share with other
 * options through the guest's own mount script; timings come from the guest's
 * /proc/uptime (centiseconds), so SSH round trips are not counted; skiff boots
 * the machine again with SKIFF_SHARE_FS=9p for them if it runs virtiofs. Each
 * phase is its own guest script, so the host CPU QEMU and virtiofsd spend in the
 * unpack is read around it: it shows which side of the share the time is on.
 * Other virtiofsd cache modes (`--virtiofs`, '' for none; `MODE+OPT+...` adds
 * virtiofsd `-o OPT`s, such as writeback) are boots of the same machine by hand
 * from a 9p run's command line (see withVirtiofs).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BenchSkiff, root } from './lib/skiff.js';
import { alive, cpuSeconds, killAndWait, pidsOf, run, shellJoin, sleep, threadCpuSeconds } from './lib/proc.js';

const DEFAULT_ISO = path.join(root, 'iso', 'out', 'skiff-amd64.iso');
const { values: a } = parseArgs({
  options: {
    copies: { type: 'string', default: '3' },
    'big-mib': { type: 'string', default: '1024' },
    variants: { type: 'string', default: 'default,msize256k,loose,none' },
    // virtiofsd cache modes (MODE[+OPT...]) booted by hand; '' skips them. Each mode is its own boot (virtiofsd cannot be swapped under a running QEMU).
    virtiofs: { type: 'string', default: '' },
    virtiofsd: { type: 'string', default: '/usr/lib/qemu/virtiofsd' },
    iso: { type: 'string', default: DEFAULT_ISO },
    out: { type: 'string', default: path.join(root, 'bench', 'shares.results.md') },
  },
});
const BASE = 'trans=virtio,version=9p2000.L';
const VARIANTS = {
  // skiff's own (NINEP_MOUNT); msize256k was its default until the first run.
  default: `${BASE},msize=512000,cache=mmap`,
  msize256k: `${BASE},msize=262144,cache=mmap`,
  msize1m: `${BASE},msize=1048576,cache=mmap`,
  loose: `${BASE},msize=262144,cache=loose`,
  none: `${BASE},msize=262144,cache=none`,
};
const log = (m) => console.error(`[shares ${new Date().toISOString().slice(11, 19)}] ${m}`);

const sk = await BenchSkiff.create();
const share = path.join(sk.base, 'share dir');
mkdirSync(share);
const tarball = path.join(sk.base, 'tree.tar');
const stage = path.join(sk.base, 'stage');
for (let i = 0; i < Number(a.copies); i++) {
  mkdirSync(path.join(stage, `copy${i}`), { recursive: true });
  // realpath: in a git worktree node_modules may be a symlink, and `cp -a` would copy just the link.
  execFileSync('cp', ['-a', realpathSync(path.join(root, 'node_modules')), path.join(stage, `copy${i}`, 'node_modules')]);
}
const files = Number(execFileSync('sh', ['-c', `find '${stage}' -type f | wc -l`]).toString().trim());
execFileSync('tar', ['-cf', tarball, '-C', stage, '.']);
rmSync(stage, { recursive: true, force: true });
log(`tree: ${files} files`);

const ssh = async (script, ...args) => {
  const r = await sk.cli(['ssh', '--', 'sh', '-c', script, 'sh', ...args]);
  if (r.code !== 0) throw new Error(`guest script failed (${r.code}): ${r.stderr.trim()}\n${script}`);
  return r.stdout;
};

// The workloads in DIR, one guest script per phase so the host's CPU can be read
// around each; a phase prints "start end" from the guest's clock.
const PHASES = {
  unpack: 'd=$1/bench; rm -rf "$d"; mkdir -p "$d"; sync; echo 3 >/proc/sys/vm/drop_caches; s=$(t); tar -xf /mnt/data/tree.tar -C "$d"; sync; e=$(t)',
  'read-tree': 'echo 3 >/proc/sys/vm/drop_caches; s=$(t); find "$1/bench" -type f -exec cat {} + >/dev/null; e=$(t)',
  'write-seq': 's=$(t); dd if=/dev/zero of="$1/bench/big" bs=1M count=$2 conv=fsync 2>/dev/null; e=$(t)',
  'read-seq': 'echo 3 >/proc/sys/vm/drop_caches; s=$(t); dd if="$1/bench/big" of=/dev/null bs=1M 2>/dev/null; e=$(t); rm -rf "$1/bench"',
};
/**
 * Runs every phase in DIR through `guest` (a script runner), returning seconds per
 * phase and, for the unpack, the host CPU seconds it cost: QEMU's busiest thread
 * (its one TCG thread, which runs the guest, kernel included), QEMU's other
 * threads (device emulation; 9p's file server), and virtiofsd. That shows which
 * side of a share the time is on. The ssh session's own cost is in the guest's.
 */
const measure = async (guest, dir, hostPids) => {
  const out = {};
  for (const [phase, body] of Object.entries(PHASES)) {
    const pids = hostPids();
    const total = (list) => list.reduce((sum, pid) => sum + (cpuSeconds(pid) || 0), 0);
    const snap = () => ({
      qemu: total(pids.qemu),
      threads: Object.fromEntries(pids.qemu.flatMap((pid) => Object.entries(threadCpuSeconds(pid)).map(([tid, s]) => [`${pid}/${tid}`, s]))),
      virtiofsd: total(pids.virtiofsd),
    });
    const before = snap();
    const [s, e] = (await guest(`set -e\nt() { read -r up _ </proc/uptime; echo "$up"; }\n${body}\necho "$s $e"`, dir, a['big-mib'])).trim().split(' ').map(Number);
    out[phase] = e - s;
    if (phase !== 'unpack') continue;
    const after = snap();
    // The process's own figure also counts threads that ended in the phase (QEMU's I/O workers come and go).
    const tcg = Math.max(0, ...Object.entries(after.threads).map(([k, v]) => v - (before.threads[k] ?? 0)));
    out.cpu = { tcg, qemuRest: after.qemu - before.qemu - tcg, virtiofsd: after.virtiofsd - before.virtiofsd };
  }
  return out;
};
// QEMU and any virtiofsd of this bench's installation (their command lines name its directory).
const skiffPids = () => ({ qemu: pidsOf('qemu-system', sk.base), virtiofsd: pidsOf('virtiofsd', sk.base) });

// virtiofs in other cache modes than skiff's: the bench boots the same machine by
// hand with the argv of a 9p run of skiff (from its run state), the -virtfs device
// swapped for QEMU's vhost-user-fs-pci served by virtiofsd, and guest RAM shared (memfd).
const handPids = new Set();
const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
const virtiofsArgv = (argv, { port, sock, dir }) => {
  const out = [];
  for (let i = 0; i < argv.length; i++) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '-virtfs') i++;
    else if (k === '-netdev' && v.startsWith('user,')) out.push(k, v.replace(/hostfwd=tcp:127\.0\.0\.1:\*-/, `hostfwd=tcp:127.0.0.1:${port}-`)), i++;
    else if (k === '-qmp') out.push(k, `unix:${path.join(dir, 'qmp.sock')},server=on,wait=off`), i++;
    else if (k === '-pidfile') out.push(k, path.join(dir, 'qemu.pid')), i++;
    else if (k === '-m') out.push(k, v, '-object', `memory-backend-memfd,id=mem,size=${v}M,share=on`, '-numa', 'node,memdev=mem'), i++;
    else out.push(k);
  }
  out.push('-chardev', `socket,id=vfs,path=${sock}`, '-device', 'vhost-user-fs-pci,chardev=vfs,tag=share0');
  return out;
};
const withVirtiofs = async (argv, mode, fn) => {
  const dir = path.join(sk.base, `vfs-${mode.replaceAll('+', '-')}`);
  const [cache, ...opts] = mode.split('+');
  mkdirSync(dir, { recursive: true });
  const sock = path.join(dir, 'vfs.sock');
  const port = await freePort();
  const vlog = path.join(dir, 'virtiofsd.log');
  const vfsd = spawn(a.virtiofsd, [`--socket-path=${sock}`, '-o', `source=${share}`, '-o', `cache=${cache}`, ...opts.flatMap((o) => ['-o', o])], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  handPids.add(vfsd.pid);
  let vstderr = '';
  vfsd.stderr.on('data', (d) => (vstderr += d));
  let qpid;
  try {
    for (let i = 0; !existsSync(sock); i++) {
      if (i > 100 || vfsd.exitCode !== null) throw new Error(`virtiofsd did not listen: ${vstderr.trim()}`);
      await sleep(100);
    }
    const qargv = virtiofsArgv(argv, { port, sock, dir });
    log(`virtiofs cache=${mode}: qemu-system-x86_64 ${shellJoin(qargv)}`);
    const r = await run('qemu-system-x86_64', qargv);
    if (r.code !== 0) throw new Error(`QEMU failed (exit ${r.code}): ${r.stderr.trim()}`);
    qpid = Number(readFileSync(path.join(dir, 'qemu.pid'), 'utf8').trim());
    handPids.add(qpid);
    const kh = path.join(dir, 'known_hosts');
    const hostKey = readFileSync(path.join(sk.machineDir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
    writeFileSync(kh, `[127.0.0.1]:${port} ${hostKey}\n`);
    const sshArgs = ['-i', path.join(sk.machineDir, 'id_ed25519'), '-p', String(port), '-o', `UserKnownHostsFile=${kh}`,
      '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', '-o', 'LogLevel=ERROR', 'root@127.0.0.1'];
    const sshRun = async (script, ...args) => {
      const r = await run('ssh', [...sshArgs, shellJoin(['sh', '-c', script, 'sh', ...args])]);
      if (r.code !== 0) throw new Error(`guest script failed (${r.code}): ${r.stderr.trim()}\n${script}`);
      return r.stdout;
    };
    for (let i = 0; ; i++) {
      if ((await run('ssh', [...sshArgs, 'true'])).code === 0) break;
      if (i > 60 || !alive(qpid)) throw new Error('the hand-started VM did not answer on ssh');
      await sleep(3000);
    }
    await fn(sshRun);
    await sshRun('sync; umount "$1"', share);
  } finally {
    if (qpid !== undefined) await killAndWait(qpid, 30_000);
    await killAndWait(vfsd.pid);
    writeFileSync(vlog, vstderr);
  }
};

const results = {};
const failed = {};
let skiffFs = '?';
let cleaned;
const cleanup = () =>
  (cleaned ??= (async () => {
    for (const pid of handPids) await killAndWait(pid);
    await sk.cli(['stop', '--force']);
    await sk.cli(['delete', '--yes']);
    rmSync(sk.base, { recursive: true, force: true });
  })());
// A bench stopped from outside (timeout) still leaves no VM behind.
process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));
try {
  await sk.mustCli(['init', '--iso', a.iso, '--share', share, '--json']);
  log('booting');
  await sk.mustCli(['start', '--json']);
  // The tarball goes onto the VM's own disk once, through the share.
  execFileSync('cp', [tarball, path.join(share, 'tree.tar')]);
  await ssh('cp "$1/tree.tar" /mnt/data/tree.tar && rm "$1/tree.tar"', share);
  log('VM disk (/mnt/data)');
  results['VM disk'] = await measure(ssh, '/mnt/data', skiffPids);
  log(JSON.stringify(results['VM disk']));
  skiffFs = (await sk.status()).shares[0].fs;
  log(`skiff's own share (${skiffFs})`);
  results[`skiff: ${skiffFs}`] = await measure(ssh, share, skiffPids);
  log(JSON.stringify(results[`skiff: ${skiffFs}`]));
  const variants = a.variants.split(',').filter(Boolean);
  const vfsModes = a.virtiofs ? a.virtiofs.split(',') : [];
  // Hand-built virtiofs boots and 9p variants both need a 9p run of skiff.
  if (skiffFs !== '9p' && (variants.length > 0 || vfsModes.length > 0)) {
    log('booting again with SKIFF_SHARE_FS=9p');
    await sk.mustCli(['stop']);
    sk.env.SKIFF_SHARE_FS = '9p';
    await sk.mustCli(['start', '--json']);
  }
  // virtiofs first (hand-started boots of the same machine and disk), then skiff boots it again for 9p.
  if (vfsModes.length > 0 && !existsSync(a.virtiofsd)) log(`no ${a.virtiofsd}: virtiofs skipped`);
  else if (vfsModes.length > 0) {
    const runState = JSON.parse(readFileSync(path.join(sk.machineDir, 'driver', 'state.json'), 'utf8'));
    await sk.mustCli(['stop']);
    for (const mode of vfsModes) {
      try {
        await withVirtiofs(runState.argv, mode, async (sshRun) => {
          await sshRun('/usr/lib/skiff/shares virtiofs share0 rw "$1"', share);
          log(`virtiofs cache=${mode}`);
          results[`virtiofs cache=${mode}`] = await measure(sshRun, share, skiffPids);
          log(JSON.stringify(results[`virtiofs cache=${mode}`]));
        });
      } catch (e) {
        log(`virtiofs cache=${mode} failed: ${e.message}`);
        failed[`virtiofs cache=${mode}`] = e.message.split('\n')[0];
      }
    }
    log('booting again for 9p');
    await sk.mustCli(['start', '--json']);
  }
  for (const v of variants) {
    await ssh('umount "$1" && /usr/lib/skiff/shares 9p share0 rw "$1" "$2"', share, VARIANTS[v]);
    log(`9p ${v} (${VARIANTS[v]})`);
    results[`9p ${v}`] = await measure(ssh, share, skiffPids);
    log(JSON.stringify(results[`9p ${v}`]));
  }

} finally {
  await cleanup();
}

const disk = results['VM disk'];
const row = (name, r) => {
  const cell = (k) => `${r[k].toFixed(2)} s${r === disk ? '' : ` (${(r[k] / disk[k]).toFixed(1)}x)`}`;
  const cpu = `${r.cpu.tcg.toFixed(1)} s / ${r.cpu.qemuRest.toFixed(1)} s / ${r.cpu.virtiofsd > 0 ? `${r.cpu.virtiofsd.toFixed(1)} s` : '-'}`;
  return `| ${name} | ${cell('unpack')} | ${cpu} | ${cell('read-tree')} | ${cell('write-seq')} | ${cell('read-seq')} |`;
};
const md = [
  `# Shared folders against the VM's own disk`,
  '',
  `${new Date().toISOString()}, ${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, TCG.`,
  `Command: \`node bench/shares.mjs --copies ${a.copies} --big-mib ${a['big-mib']} --variants '${a.variants}' --virtiofs '${a.virtiofs}'${a.iso === DEFAULT_ISO ? '' : ` --iso ${a.iso}`}\` (one run each).`,
  `Small files: ${files} files (${a.copies} copies of skiff's node_modules); sequential: ${a['big-mib']} MiB.`,
  '',
  '| where | unpack tree | host CPU in the unpack: guest / rest of QEMU / virtiofsd | read tree | write seq | read seq |',
  '| --- | --- | --- | --- | --- | --- |',
  ...Object.entries(results).map(([k, r]) => row(k, r)),
  '',
  "Host CPU: user and system seconds, from /proc, while the unpack ran: guest = QEMU's busiest thread, its one TCG thread, which runs the guest " +
    "(kernel and tar); rest of QEMU = its other threads (device emulation, and 9p's file server); virtiofsd = every virtiofsd of the share.",
  '',
  ...Object.entries(failed).map(([k, m]) => `${k} failed: ${m}`),
  ...(Object.keys(failed).length > 0 ? [''] : []),
  `skiff: the share as skiff serves and mounts it (\`skiff status\`: ${skiffFs}${skiffFs === 'virtiofs' ? ', virtiofsd -o cache=auto, run as ' + os.userInfo().username : ''}${process.env.SKIFF_SHARE_FS ? `, SKIFF_SHARE_FS=${process.env.SKIFF_SHARE_FS}` : ''}).`,
  ...(a.variants ? ['', '9p options: ' + a.variants.split(',').map((k) => `${k} = \`${VARIANTS[k]}\``).join('; ') + '.'] : []),
  ...(a.virtiofs
    ? [
        '',
        `virtiofs: ${a.virtiofsd} (run as ${os.userInfo().username}) with \`-o cache=MODE\` (and \`-o OPT\` for each +OPT), QEMU \`vhost-user-fs-pci\` and guest RAM from ` +
          '`memory-backend-memfd,share=on`: those rows come from boots of the same machine and disk by hand, ' +
          "with the argv of skiff's 9p run and only the share device and memory backend changed (see the script).",
      ]
    : []),
  '',
];
writeFileSync(a.out, md.join('\n'));
console.log(md.join('\n'));
