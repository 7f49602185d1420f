import { describe, expect, it } from 'vitest';
import { natRules, parseMachineReadable } from '../../src/drivers/virtualbox/machinereadable.js';
import { foldVmState } from '../../src/drivers/virtualbox/vm-state.js';

// Shaped like VirtualBox 7.0's output (VBoxManageInfo.cpp): unquoted numbers,
// quoted keys with dashes, a key with spaces, a stray "Encryption:" line, a
// line without "=", a description spanning lines and escaped quotes/backslashes.
const SAMPLE_70 = [
  'name="skiff-dev"',
  'Encryption:     disabled',
  'groups="/"',
  'ostype="Other Linux (64-bit)"',
  'UUID="3c2f1a9e-5b7d-4e21-9a0c-7f8e6d5c4b3a"',
  'CfgFile="/home/ann/.skiff/machines/dev/driver/skiff-dev/skiff-dev.vbox"',
  'memory=2048',
  'vram=16',
  'cpus=2',
  'boot1="dvd"',
  'boot2="disk"',
  'BIOS NVRAM File="/home/ann/.skiff/machines/dev/driver/skiff-dev/skiff-dev.nvram"',
  'rtcuseutc="on"',
  'paravirtprovider="kvm"',
  'VMState="running"',
  'VMStateChangeTime="2026-11-25T14:02:11.482000000"',
  'storagecontrollername0="SATA"',
  'storagecontrollertype0="IntelAhci"',
  'storagecontrollerportcount0="2"',
  '"SATA-0-0"="/home/ann/.skiff/machines/dev/driver/data.vdi"',
  '"SATA-ImageUUID-0-0"="9d8c7b6a-1111-4222-8333-444455556666"',
  '"SATA-1-0"="/home/ann/.skiff/cache/skiff-amd64.iso"',
  '"SATA-IsEjected-1-0"="off"',
  'natnet1="nat"',
  'nic1="nat"',
  'nictype1="virtio"',
  'Forwarding(0)="ssh,tcp,127.0.0.1,2222,,22"',
  'Forwarding(1)="web,tcp,,8080,10.0.2.15,80"',
  'nic2="none"',
  'uart1="0x03f8,4"',
  'uartmode1="file,/home/ann/.skiff/machines/dev/console.log"',
  'audio="none"',
  'usb="off"',
  'SharedFolderNameMachineMapping1="home"',
  'SharedFolderPathMachineMapping1="/home/ann"',
  'recording_screens=1',
  ' rec_screen0',
  'rec_screen_opts="vc_enabled=true,ac_enabled=false,ac_profile=med"',
  'description="first line',
  'second \\"quoted\\" line"',
  'GuestMemoryBalloon=0',
  '',
].join('\n');

describe('parseMachineReadable', () => {
  const info = parseMachineReadable(SAMPLE_70);

  it('reads quoted and unquoted values', () => {
    expect(info.get('name')).toBe('skiff-dev');
    expect(info.get('memory')).toBe('2048');
    expect(info.get('cpus')).toBe('2');
    expect(info.get('VMState')).toBe('running');
    expect(info.get('uartmode1')).toBe('file,/home/ann/.skiff/machines/dev/console.log');
    expect(info.get('rec_screen_opts')).toBe('vc_enabled=true,ac_enabled=false,ac_profile=med');
  });

  it('reads quoted keys and keys with spaces', () => {
    expect(info.get('SATA-0-0')).toBe('/home/ann/.skiff/machines/dev/driver/data.vdi');
    expect(info.get('SATA-1-0')).toBe('/home/ann/.skiff/cache/skiff-amd64.iso');
    expect(info.get('BIOS NVRAM File')).toBe('/home/ann/.skiff/machines/dev/driver/skiff-dev/skiff-dev.nvram');
  });

  it('keeps a value that spans lines, unescaping quotes, and goes on after it', () => {
    expect(info.get('description')).toBe('first line\nsecond "quoted" line');
    expect(info.get('GuestMemoryBalloon')).toBe('0');
  });

  it('skips lines that are not key=value', () => {
    expect(info.has('Encryption:     disabled')).toBe(false);
    expect([...info.keys()].some((k) => k.includes('rec_screen0'))).toBe(false);
  });

  it('unescapes backslashes (Windows paths) and handles CRLF', () => {
    const win = parseMachineReadable('CfgFile="C:\\\\Users\\\\ann\\\\VirtualBox VMs\\\\dev\\\\dev.vbox"\r\nVMState="poweroff"\r\nmemory=1024\r\n');
    expect(win.get('CfgFile')).toBe('C:\\Users\\ann\\VirtualBox VMs\\dev\\dev.vbox');
    expect(win.get('VMState')).toBe('poweroff');
    expect(win.get('memory')).toBe('1024');
  });

  it('reads a quoted key that itself needs escaping', () => {
    const m = parseMachineReadable('"a=\\"b\\""="c"\n');
    expect(m.get('a="b"')).toBe('c');
  });

  it('keeps what follows a closing quote (bandwidth groups)', () => {
    expect(parseMachineReadable('BandwidthGroup0="net1",Network,1000000\n').get('BandwidthGroup0')).toBe('net1,Network,1000000');
  });

  it('an unterminated quote on the last line keeps the entries before it and the raw rest', () => {
    // A parser that does not move past the bad line hangs here (the test times out) or throws.
    const m = parseMachineReadable('VMState="running"\nname="x');
    expect([...m]).toEqual([
      ['VMState', 'running'],
      ['name', '"x'],
    ]);
  });
});

describe('natRules', () => {
  it('reads Forwarding(N) rules, empty host IP included', () => {
    expect(natRules(parseMachineReadable(SAMPLE_70))).toEqual([
      { name: 'ssh', protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 2222, guestIp: '', guestPort: 22 },
      { name: 'web', protocol: 'tcp', hostIp: '', hostPort: 8080, guestIp: '10.0.2.15', guestPort: 80 },
    ]);
  });

  it('ignores malformed rules', () => {
    expect(natRules(parseMachineReadable('Forwarding(0)="ssh,tcp,127.0.0.1,2222"\nForwarding(1)="x,icmp,,1,,2"\n'))).toEqual([]);
  });
});

describe('foldVmState', () => {
  it.each([
    ['poweroff', 'stopped'],
    ['aborted', 'stopped'],
    ['saved', 'suspended'],
    ['aborted-saved', 'suspended'],
    ['running', 'running'],
    ['paused', 'paused'],
    ['starting', 'starting'],
    ['restoring', 'starting'],
    ['stopping', 'stopping'],
    ['saving', 'stopping'],
    ['gurumeditation', 'error'],
    ['something-new', 'error'],
  ])('%s -> %s', (vbox, skiff) => {
    expect(foldVmState(vbox)).toBe(skiff);
  });

  it('a missing VMState is an error, not a guess', () => {
    expect(foldVmState(undefined)).toBe('error');
  });
});
