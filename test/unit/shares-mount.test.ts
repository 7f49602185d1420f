import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { mountSharesCommand } from '../../src/machine/shares-mount.js';

describe('the guest command that mounts the shares', () => {
  const shares = [
    { hostPath: '/home/me', guestPath: '/home/me', readOnly: false, tag: 'share0' },
    { hostPath: "/srv/it's", guestPath: "/data/it's", readOnly: true, tag: 'share1' },
  ];

  it('mounts each share not mounted yet through the guest script, quoting paths for sh', () => {
    const lines = mountSharesCommand(shares).split('\n');
    expect(lines[0]).toBe(`mountpoint -q '/home/me' || /usr/lib/skiff/shares 'share0:/home/me'`);
    expect(lines[1]).toBe(`mountpoint -q '/data/it'\\''s' || /usr/lib/skiff/shares 'share1:/data/it'\\''s:ro'`);
    // The last line lists what is still not mounted; the host reads it back.
    expect(lines[2]).toMatch(/^for p in '\/home\/me' '\/data\/it'\\''s'; do mountpoint -q "\$p" \|\| echo "\$p"; done$/);
  });

  it('is valid sh', () => {
    execFileSync('sh', ['-n', '-c', mountSharesCommand(shares)]);
  });

  it('is empty without shares', () => {
    expect(mountSharesCommand([])).toBe('');
  });
});
