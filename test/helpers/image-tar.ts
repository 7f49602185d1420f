import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, openSync, closeSync, writeSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface CraftedImage {
  tarPath: string;
  tag: string;
  /** sha256 of /blob inside the image, computed on the host while writing it. */
  blobSha256: string;
  blobBytes: number;
}

function sha256File(file: string): string {
  return execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]!;
}

function tarDir(dir: string, out: string, entries: string[]): void {
  execFileSync('tar', ['--owner=0', '--group=0', '--numeric-owner', '-C', dir, '-cf', out, ...entries]);
}

/**
 * A `docker load` tarball built by hand (no registry, no engine): one layer with a
 * static busybox, one with `blob` random bytes at /blob. The engine itself checks
 * each layer against the config's diff_ids, and a container can hash /blob.
 */
export function craftImageTar(dir: string, tag: string, busybox: string, blobBytes: number): CraftedImage {
  const l1 = path.join(dir, 'l1');
  const l2 = path.join(dir, 'l2');
  mkdirSync(path.join(l1, 'root/bin'), { recursive: true });
  mkdirSync(path.join(l2, 'root'), { recursive: true });
  copyFileSync(busybox, path.join(l1, 'root/bin/busybox'));
  tarDir(path.join(l1, 'root'), path.join(l1, 'layer.tar'), ['bin']);

  const hash = createHash('sha256');
  const fd = openSync(path.join(l2, 'root/blob'), 'w');
  try {
    const chunk = 8 * 1024 * 1024;
    for (let left = blobBytes; left > 0; left -= chunk) {
      const b = randomBytes(Math.min(chunk, left));
      hash.update(b);
      writeSync(fd, b);
    }
  } finally {
    closeSync(fd);
  }
  tarDir(path.join(l2, 'root'), path.join(l2, 'layer.tar'), ['blob']);

  const diffIds = [sha256File(path.join(l1, 'layer.tar')), sha256File(path.join(l2, 'layer.tar'))].map((h) => `sha256:${h}`);
  const config = {
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/busybox', 'sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: [tag], Layers: ['l1/layer.tar', 'l2/layer.tar'] }]));
  const tarPath = path.join(dir, 'image.tar');
  tarDir(dir, tarPath, ['manifest.json', 'config.json', 'l1/layer.tar', 'l2/layer.tar']);
  return { tarPath, tag, blobSha256: hash.digest('hex'), blobBytes };
}
