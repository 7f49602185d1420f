import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QemuDriver } from '../../src/drivers/qemu/driver.js';
import { qmpOnce } from '../../src/drivers/qemu/qmp.js';
import type { MachineSpec } from '../../src/drivers/driver.js';
import { machinePaths } from '../../src/layout/paths.js';
import { writeSeed } from '../../src/guest/seed.js';
import { generateEd25519 } from '../../src/ssh/keys.js';
import { isProcessAlive } from '../../src/util/process-alive.js';

/**
 * Boots the real guest image under the driver: the accelerator probe on the
 * image's own kernel, the console log, the SSH forward reaching the guest's
 * sshd, and a graceful ACPI stop. Needs iso/out/skiff-amd64.iso (CI builds it
 * before the tests; locally run `npm run iso`).
 */

const ISO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../iso/out/skiff-amd64.iso');
const BOOT_TIMEOUT_MS = 300_000;

let work: string;
let runRoot: string;
let spec: MachineSpec;
let driver: QemuDriver;
let pid: number | undefined;
const savedRuntimeDir = process.env.SKIFF_RUNTIME_DIR;

beforeAll(async () => {
  await stat(ISO).catch(() => {
    throw new Error(`the guest image ${ISO} is missing: run \`npm run iso\` first`);
  });
  work = await mkdtemp(path.join(os.tmpdir(), 'skiff-qemu-boot-'));
  runRoot = await mkdtemp('/tmp/skb-');
  process.env.SKIFF_RUNTIME_DIR = runRoot;
  const paths = machinePaths(path.join(work, 'home'), 'boot');
  await mkdir(paths.dir, { recursive: true });
  const user = generateEd25519('skiff-test');
  const host = generateEd25519('skiff-test-host');
  await writeSeed(paths.seed, {
    authorizedKeys: user.public,
    hostKeyPrivate: host.private,
    hostKeyPublic: host.public,
    settings: { HOSTNAME: 'boot' },
  });
  spec = { name: 'boot', paths, cpus: 2, memoryMiB: 2048, diskGiB: 4, arch: 'x86_64', isoPath: ISO, shares: [] };
  driver = new QemuDriver(spec);
});

afterAll(async () => {
  if (pid !== undefined && isProcessAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  if (savedRuntimeDir === undefined) delete process.env.SKIFF_RUNTIME_DIR;
  else process.env.SKIFF_RUNTIME_DIR = savedRuntimeDir;
  if (work) await rm(work, { recursive: true, force: true });
  if (runRoot) await rm(runRoot, { recursive: true, force: true });
});

function sshBanner(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ host: '127.0.0.1', port });
    let buf = '';
    s.setTimeout(20_000, () => s.destroy(new Error('no SSH banner within 20 s')));
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        s.destroy();
        resolve(buf.slice(0, nl).trim());
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`connection closed before a banner (got ${JSON.stringify(buf)})`)));
  });
}

describe('QemuDriver boots the real guest image', () => {
  it(
    'creates, boots until the guest sshd answers on the forwarded port, and powers off by ACPI',
    async () => {
      await driver.create();
      const notices: string[] = [];
      const bootAt = Date.now();
      const ep = await driver.start({ notice: (m) => notices.push(m) });
      pid = (await driver.info()).pid;
      expect(pid).toBeGreaterThan(0);
      const accel = (await driver.info()).accelerator;
      // Under TCG the user was told why; with a working KVM/HVF nothing is said.
      expect(notices.length).toBe(accel === 'tcg' ? 1 : 0);

      // The driver's part ends where the guest's sshd answers on the forwarded port; whether the
      // engine then comes up (SKIFF-READY) is the guest's business and is tested end to end elsewhere.
      const deadline = Date.now() + BOOT_TIMEOUT_MS;
      let banner = '';
      while (banner === '' && Date.now() < deadline) {
        // Before sshd listens, QEMU's user-mode network accepts and at once closes the connection.
        banner = await sshBanner(ep.port).catch(async () => {
          await new Promise((r) => setTimeout(r, 2000));
          return '';
        });
      }
      const sshAt = Date.now();
      expect(banner, `no SSH banner; console:\n${await readFile(spec.paths.consoleLog, 'utf8').catch(() => '')}`).toMatch(/^SSH-2\.0-/);
      expect(await qmpOnce<{ status: string }>(driver.qmpSocket, 'query-status')).toMatchObject({ status: 'running' });

      const stopAt = Date.now();
      await driver.stop({ timeoutMs: 120_000 });
      console.info(`qemu-boot: sshd answered ${((sshAt - bootAt) / 1000).toFixed(1)} s after start() began; ACPI stop took ${Date.now() - stopAt} ms`);
      expect(await driver.state()).toBe('stopped');
      // The guest powered itself off (ACPI), rather than QEMU being told to quit.
      expect(await readFile(spec.paths.consoleLog, 'utf8')).toMatch(/reboot: Power down/);
    },
    BOOT_TIMEOUT_MS + 180_000,
  );
});
