import { afterEach, beforeEach, expect, it } from 'vitest';
import { natForwarder } from '../../src/agent/ports/udp.js';
import { VirtualBoxDriver } from '../../src/drivers/virtualbox/driver.js';
import { setupFakeVBox, type FakeVBox } from '../helpers/fake-vboxmanage/fake-vbox.js';

/** Published UDP ports on VirtualBox: `controlvm natpf1` rules added and removed while the VM runs (stand-in VBoxManage). */
let fake: FakeVBox;
beforeEach(async () => {
  fake = await setupFakeVBox();
});
afterEach(async () => {
  await fake.cleanup();
});

const udpRules = async () =>
  Object.values((await fake.registry()).vms)
    .find((vm) => vm.name === 'skiff-m1')
    ?.nics['1']?.rules.filter((r) => r.name.startsWith('skiff-udp-')) ?? [];

it('adds a udp rule on 127.0.0.1 for a published port, removes it, and reports a port it cannot take', async () => {
  const driver = new VirtualBoxDriver(await fake.spec('m1'));
  await driver.create();
  expect(driver.udpForwarding()).toBeDefined();
  await driver.start();
  const nat = natForwarder(driver.udpForwarding())!;
  await fake.clearCalls();
  expect(await nat.add(5353)).toBeUndefined();
  expect(await udpRules()).toEqual([expect.objectContaining({ name: 'skiff-udp-5353', proto: 'udp', hostIp: '127.0.0.1', hostPort: 5353, guestPort: 5353 })]);
  // A rule left behind by an agent that died is replaced, not a conflict.
  expect(await nat.add(5353)).toBeUndefined();
  expect(await udpRules()).toHaveLength(1);
  expect((await fake.calls()).at(-1)).toEqual(['controlvm', 'skiff-m1', 'natpf1', 'skiff-udp-5353,udp,127.0.0.1,5353,,5353']);
  await nat.remove(5353);
  expect(await udpRules()).toEqual([]);
  // A VM that is not running refuses: the port is shown as not forwarded, with VirtualBox's reason.
  await driver.stop({ force: true });
  expect(await nat.add(5354)).toMatch(/VirtualBox refused the forward of 127\.0\.0\.1:5354\/udp/);
}, 60_000);
