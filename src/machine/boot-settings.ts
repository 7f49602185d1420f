import type { SshEndpoint } from '../drivers/driver.js';
import { SkiffError } from '../errors.js';
import { connectSsh } from '../ssh/connect.js';
import { execCollect } from '../ssh/exec.js';
import type { Machine } from './machine.js';
import { machineSshTarget } from './ssh-target.js';

/**
 * The guest command that applies the settings config.yaml says take effect at each
 * start, for a driver that cannot hand the guest a kernel command line (VirtualBox
 * boots isolinux from the CD, whose command line is fixed). The guest read
 * settings.env on the data disk at boot, as seeded at init; this makes the running
 * guest match the config now (binfmt registered or removed) and rewrites
 * settings.env so the next boot starts out matching it too.
 */
export function bootSettingsCommand(s: { binfmt: boolean }): string {
  const f = '/mnt/data/skiff/settings.env';
  return [
    `if [ -f ${f} ]; then grep -v '^SKIFF_BINFMT=' ${f} > ${f}.new || true; ${s.binfmt ? `echo "SKIFF_BINFMT='1'" >> ${f}.new; ` : ''}mv ${f}.new ${f}; fi`,
    s.binfmt
      ? '/usr/lib/skiff/binfmt'
      : 'line=$(cat /etc/skiff/binfmt); name=${line#:}; name=${name%%:*}; p=/proc/sys/fs/binfmt_misc/$name; if [ -e "$p" ]; then echo -1 > "$p"; fi',
  ].join('\n');
}

/** Runs bootSettingsCommand over SSH. */
export async function applyBootSettings(m: Machine, ssh: SshEndpoint): Promise<void> {
  const conn = await connectSsh(await machineSshTarget(m, ssh));
  try {
    const r = await execCollect(conn.client, bootSettingsCommand({ binfmt: m.config.binfmt }));
    if (r.code !== 0) {
      throw new SkiffError('settings-failed', `applying binfmt=${m.config.binfmt} in the guest failed: ${r.stderr.toString().trim().split('\n')[0] ?? `exit ${r.code}`}`, {
        hint: 'see `skiff logs --console`; `skiff restart` tries again',
      });
    }
  } finally {
    conn.client.end();
  }
}
