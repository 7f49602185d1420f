import net from 'node:net';

const PING = 'GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n';

/** One GET /_ping on a new connection; true if the engine answered "OK". */
export function pingOnce(sock, timeoutMs = 2000) {
  return new Promise((resolve) => {
    let buf = '';
    const s = net.connect(sock);
    const done = (ok) => (clearTimeout(t), s.destroy(), resolve(ok));
    const t = setTimeout(() => done(false), timeoutMs);
    s.on('error', () => done(false));
    s.on('close', () => done(/\r\n\r\nOK$/.test(buf)));
    s.on('data', (d) => {
      buf += d;
      if (/^HTTP\/1\.1 200/.test(buf) && /\r\n\r\nOK$/.test(buf)) done(true);
    });
    s.on('connect', () => s.write(PING));
  });
}

/** Round trips per second, each a /_ping on a new connection. */
export async function pingRateNew(sock, n) {
  for (let i = 0; i < Math.min(10, n); i++) if (!(await pingOnce(sock, 10_000))) throw new Error(`no /_ping answer on ${sock}`);
  const t = performance.now();
  for (let i = 0; i < n; i++) if (!(await pingOnce(sock, 10_000))) throw new Error(`no /_ping answer on ${sock}`);
  return n / ((performance.now() - t) / 1000);
}

/** Round trips per second, /_ping after /_ping on one kept-alive HTTP/1.1 connection. */
export async function pingRateKept(sock, n) {
  const s = net.connect(sock);
  await new Promise((r, j) => (s.once('connect', r), s.once('error', j)));
  let buf = '';
  let waiter;
  let failed;
  s.on('close', () => failed?.(new Error(`kept-alive connection to ${sock} closed`)));
  s.on('data', (d) => {
    buf += d;
    if (buf.endsWith('\r\n\r\nOK')) {
      buf = '';
      waiter?.();
    }
  });
  const one = () => new Promise((r, j) => ((waiter = r), (failed = j), s.write(PING)));
  try {
    for (let i = 0; i < Math.min(20, n); i++) await one();
    const t = performance.now();
    for (let i = 0; i < n; i++) await one();
    return n / ((performance.now() - t) / 1000);
  } finally {
    s.destroy();
  }
}

/** One kept-alive HTTP/1.1 connection that answers /_ping after /_ping. */
export async function keptPinger(sock) {
  const s = net.connect(sock);
  await new Promise((r, j) => (s.once('connect', r), s.once('error', j)));
  let buf = '';
  let waiter;
  let failed;
  s.on('error', () => {});
  s.on('close', () => failed?.(new Error(`kept-alive connection to ${sock} closed`)));
  s.on('data', (d) => {
    buf += d;
    if (buf.endsWith('\r\n\r\nOK')) {
      buf = '';
      waiter?.();
    }
  });
  const one = () => new Promise((r, j) => ((waiter = r), (failed = j), s.write(PING)));
  return {
    async rate(n) {
      const t = performance.now();
      for (let i = 0; i < n; i++) await one();
      return n / ((performance.now() - t) / 1000);
    },
    close: () => s.destroy(),
  };
}

/**
 * Round trips for several tunnels at once, in short alternating batches, so a burst
 * of load from other work on the machine hits every tunnel alike. Returns per tunnel
 * the batch rates (round trips/s) on new connections and on one kept-alive connection.
 */
export async function pingRatesInterleaved(socks, { batches = 10, perBatch = 10 } = {}) {
  const kept = [];
  try {
    for (const s of socks) kept.push(await keptPinger(s));
    for (const k of kept) await k.rate(10); // warm-up
    for (const s of socks) await pingRateNew(s, 5);
    const out = socks.map(() => ({ rtNew: [], rtKept: [] }));
    for (let b = 0; b < batches; b++) {
      for (let i = 0; i < socks.length; i++) {
        out[i].rtNew.push(await pingRateNewRaw(socks[i], perBatch));
        out[i].rtKept.push(await kept[i].rate(perBatch * 2));
      }
    }
    return out;
  } finally {
    for (const k of kept) k.close();
  }
}

async function pingRateNewRaw(sock, n) {
  const t = performance.now();
  for (let i = 0; i < n; i++) if (!(await pingOnce(sock, 10_000))) throw new Error(`no /_ping answer on ${sock}`);
  return n / ((performance.now() - t) / 1000);
}
