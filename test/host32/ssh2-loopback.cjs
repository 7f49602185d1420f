'use strict';
// Proves ssh2 works as skiff uses it (ed25519 keys, a pinned host key, exec,
// data both ways) over each cipher family, on loopback. Prints one JSON line.
// With --block-native, ssh2's optional native pieces are made unloadable first,
// as on a host where npm ran no install scripts or had no compiler.
// Resolves ssh2 from the current directory's node_modules.
const Module = require('node:module');
const crypto = require('node:crypto');
const path = require('node:path');

const blocked = [];
if (process.argv.includes('--block-native')) {
  const load = Module._load;
  Module._load = function (request, ...rest) {
    if (/sshcrypto\.node$/.test(request) || request === 'cpu-features') {
      blocked.push(request);
      throw Object.assign(new Error(`${request} blocked`), { code: 'MODULE_NOT_FOUND' });
    }
    return load.call(this, request, ...rest);
  };
}

const from = path.join(process.cwd(), 'noop.js');
const ssh2 = Module.createRequire(from)('ssh2');
const { bindingAvailable } = Module.createRequire(from)('ssh2/lib/protocol/crypto.js');

const PAYLOAD = crypto.randomBytes(1 << 20);
const digest = (b) => crypto.createHash('sha256').update(b).digest('hex');
// ssh2 1.17 writes a malformed public key when the ed25519 point starts with a
// zero byte (about 1 in 256): draw again, as this script tests transport, not that.
function keyPair() {
  for (;;) {
    const k = ssh2.utils.generateKeyPairSync('ed25519');
    const parsed = ssh2.utils.parseKey(k.public);
    if (!(parsed instanceof Error)) return { ...k, blob: parsed.getPublicSSH() };
  }
}
const hostKey = keyPair();
const userKey = keyPair();
const hostBlob = hostKey.blob;
const userBlob = userKey.blob;

const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (conn) => {
  conn.on('error', () => {});
  conn.on('authentication', (ctx) => {
    if (ctx.method === 'publickey' && ctx.key.data.equals(userBlob)) return ctx.accept();
    ctx.reject(['publickey']);
  });
  conn.on('ready', () => {
    conn.on('session', (accept) => {
      accept().on('exec', (acceptExec, _reject, info) => {
        const ch = acceptExec();
        const got = [];
        ch.on('data', (d) => got.push(d));
        ch.on('end', () => {
          ch.write(`${info.command} ${digest(Buffer.concat(got))}\n`);
          ch.write(PAYLOAD);
          ch.exit(0);
          ch.end();
        });
      });
    });
  });
});

function roundTrip(port, cipher) {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('error', reject);
    c.on('ready', () => {
      c.exec('echo', (err, ch) => {
        if (err) return reject(err);
        const out = [];
        ch.on('data', (d) => out.push(d));
        ch.on('close', (code) => {
          c.end();
          const buf = Buffer.concat(out);
          const nl = buf.indexOf(10);
          resolve({
            cipher,
            code,
            uploadOk: buf.subarray(0, nl).toString() === `echo ${digest(PAYLOAD)}`,
            downloadOk: digest(buf.subarray(nl + 1)) === digest(PAYLOAD),
          });
        });
        ch.end(PAYLOAD);
      });
    });
    c.connect({
      host: '127.0.0.1',
      port,
      username: 'skiff',
      privateKey: userKey.private,
      hostVerifier: (key) => key.equals(hostBlob),
      algorithms: { cipher: [cipher] },
    });
  });
}

server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const results = [];
  try {
    for (const cipher of ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes256-ctr']) {
      results.push(await roundTrip(port, cipher));
    }
    console.log(JSON.stringify({ arch: process.arch, node: process.versions.node, bindingAvailable, blocked, results }));
  } catch (e) {
    console.log(JSON.stringify({ error: String(e && e.message ? e.message : e) }));
    process.exitCode = 1;
  } finally {
    server.close();
  }
});
