#!/usr/bin/env node
// Runs at `npm pack` / `npm publish` (prepack): writes release-images.json, the
// checksums of the guest images this version's release carries, from the images
// in iso/out. The installed package verifies its download against these, so a
// release asset replaced on the server (even with its SHA256SUMS) is refused.
// Refuses to pack without both images, or with a SHA256SUMS that does not match them.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'iso', 'out');
const IMAGES = ['skiff-amd64.iso', 'skiff-arm64.iso'];

function fail(msg) {
  console.error(`pin-images: ${msg}`);
  process.exit(1);
}

async function sha256(file) {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk);
  return h.digest('hex');
}

const sumsFile = path.join(out, 'SHA256SUMS');
if (!existsSync(sumsFile)) fail(`no ${path.relative(root, sumsFile)}: build both images first (npm run iso; npm run iso -- --arch arm64)`);
const listed = new Map();
for (const line of readFileSync(sumsFile, 'utf8').split('\n')) {
  const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line.trim());
  if (m) listed.set(m[2], m[1]);
}
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const images = {};
for (const name of IMAGES) {
  const file = path.join(out, name);
  const want = listed.get(name);
  if (want === undefined || !existsSync(file)) fail(`${name} is not built (npm run iso${name.includes('arm64') ? ' -- --arch arm64' : ''})`);
  const got = await sha256(file);
  if (got !== want) fail(`${name} does not match SHA256SUMS (a build in progress, or a stale list): rebuild it`);
  images[name] = { sha256: got, size: statSync(file).size };
}
const dest = path.join(root, 'release-images.json');
writeFileSync(`${dest}.tmp`, `${JSON.stringify({ version, images }, null, 2)}\n`);
renameSync(`${dest}.tmp`, dest);
console.error(`pin-images: skiff ${version}: ${IMAGES.map((n) => `${n} ${images[n].sha256.slice(0, 12)}`).join(', ')}`);
