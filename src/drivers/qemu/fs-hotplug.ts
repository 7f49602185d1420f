import type { Share } from '../driver.js';
import { virtiofsIds, virtiofsDevice } from './argv.js';
import { QmpClient, type QmpEvent } from './qmp.js';

const UNPLUG_TIMEOUT_MS = 15_000;

/**
 * QEMU 7.2 refuses to save a VM with a vhost-user-fs device, mounted or not: a
 * suspend unplugs them first (the guest has unmounted the shares and ejects each
 * device when asked) and the resumed VM gets fresh ones (plugVirtiofs). Returns
 * the indexes unplugged; on failure, plugs nothing back itself.
 */
export async function unplugVirtiofs(qmpSocket: string): Promise<number[]> {
  const qmp = await QmpClient.connect(qmpSocket);
  try {
    const list = await qmp.execute<Array<{ name: string }>>('qom-list', { path: '/machine/peripheral' });
    const indexes = list.flatMap((p) => /^vfsdev(\d+)$/.exec(p.name)?.[1] ?? []).map(Number).sort((a, b) => a - b);
    for (const i of indexes) {
      const { device, chardev } = virtiofsIds(i);
      const deleted = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          qmp.off('event', on);
          reject(new Error(`the guest did not release ${device} within ${UNPLUG_TIMEOUT_MS / 1000} s`));
        }, UNPLUG_TIMEOUT_MS);
        const on = (e: QmpEvent) => {
          if (e.event !== 'DEVICE_DELETED' || (e.data as { device?: string } | undefined)?.device !== device) return;
          clearTimeout(timer);
          qmp.off('event', on);
          resolve();
        };
        qmp.on('event', on);
      });
      // The rejection is awaited below; a device_del error must not leave it unhandled meanwhile.
      deleted.catch(() => undefined);
      await qmp.execute('device_del', { id: device });
      await deleted;
      await qmp.execute('chardev-remove', { id: chardev });
    }
    return indexes;
  } finally {
    qmp.close();
  }
}

/** Plugs share i's virtiofs device back into its root port, connected to a virtiofsd already listening on sockets[i]. */
export async function plugVirtiofs(qmpSocket: string, shares: Array<{ index: number; share: Share; socket: string }>): Promise<void> {
  const qmp = await QmpClient.connect(qmpSocket);
  try {
    for (const { index, share, socket } of shares) {
      const { chardev } = virtiofsIds(index);
      const dev = virtiofsDevice(index, share, socket);
      // A save killed between device_del and chardev-remove leaves the chardev behind, holding its id.
      await qmp.execute('chardev-remove', { id: chardev }).catch(() => undefined);
      await qmp.execute('chardev-add', { id: chardev, backend: { type: 'socket', data: { addr: { type: 'unix', data: { path: socket } }, server: false } } });
      // device_add takes the same key=value pairs as -device, as an object.
      const [driver, ...props] = dev.device.split(',');
      await qmp.execute('device_add', { driver, ...Object.fromEntries(props.map((p) => p.split('=') as [string, string])) });
    }
  } finally {
    qmp.close();
  }
}
