// Benchmark (not a test) of the browser's SFrame twin, run by .ci/run: in
// a Chromium dedicated worker, SFrame encrypt + decrypt of a 1200-byte
// frame (suite 4, FrameEncryptor/FrameDecryptor of
// examples/server/pages/e2ee/frames.js, codec 'opus', i.e. the whole frame)
// against raw WebCrypto AES-128-GCM encrypt + decrypt of the same bytes
// with a pre-imported key: the floor any WebCrypto SFrame sits on. Rounds
// of the two alternate in one run (so both see the same machine load);
// each figure is the median over rounds. Prints JSON, then the ratio line,
// then `e2ee bench ok`.
//
//   node tests/browser/e2ee_bench.mjs [--rounds 21] [--ops 300]
import { args, withChromium } from './lib.mjs';
import { serveStatic } from './e2ee_sframe.mjs';

const WORKER_JS = `
import { deriveKey } from '/e2ee/sframe.js';
import { FrameDecryptor, FrameEncryptor } from '/e2ee/frames.js';

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

onmessage = async ({ data: { rounds, ops, bytes } }) => {
  const key = await deriveKey(4, 0x11n, crypto.getRandomValues(new Uint8Array(32)));
  const enc = new FrameEncryptor();
  enc.setKey(key);
  const dec = new FrameDecryptor();
  dec.installEpoch(0, 1n, [key]);
  const raw = await crypto.subtle.importKey('raw', crypto.getRandomValues(new Uint8Array(16)), 'AES-GCM', false,
    ['encrypt', 'decrypt']);
  const frame = crypto.getRandomValues(new Uint8Array(bytes));
  const iv = new Uint8Array(12);
  const ivView = new DataView(iv.buffer);
  let n = 0;

  // Both loops check their result once per round, outside the timing.
  async function sframeRound() {
    const t = performance.now();
    let last;
    for (let i = 0; i < ops; i++) last = await dec.decrypt(0, 'opus', await enc.encrypt('opus', frame));
    const us = ((performance.now() - t) * 1000) / ops;
    if (last.frame.length !== frame.length || last.frame[7] !== frame[7]) throw new Error('SFrame roundtrip differs');
    return us;
  }
  async function rawRound() {
    const t = performance.now();
    let last;
    for (let i = 0; i < ops; i++) {
      ivView.setUint32(8, n++); // a fresh nonce per frame, as SFrame's CTR
      const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, raw, frame);
      last = await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, raw, ct);
    }
    const us = ((performance.now() - t) * 1000) / ops;
    if (last.byteLength !== frame.length) throw new Error('AES-GCM roundtrip differs');
    return us;
  }

  await sframeRound();
  await rawRound();
  const s = [];
  const r = [];
  for (let i = 0; i < rounds; i++) {
    // Alternate which goes first so neither always runs on a warmer cache.
    if (i % 2 === 0) {
      s.push(await sframeRound());
      r.push(await rawRound());
    } else {
      r.push(await rawRound());
      s.push(await sframeRound());
    }
  }
  postMessage({ sframe: median(s), raw: median(r), sframeMin: Math.min(...s), rawMin: Math.min(...r) });
};
`;

const rounds = Number(args.rounds || 21);
const ops = Number(args.ops || 300);
const bytes = 1200;

const server = await serveStatic({
  texts: {
    '/': ['text/html', '<!doctype html><title>e2ee bench</title>'],
    '/bench-worker.js': ['text/javascript', WORKER_JS],
  },
});
try {
  const m = await withChromium(async (browser) => {
    const page = await browser.newPage();
    page.on('pageerror', (e) => process.stderr.write(`[page] error: ${e.message}\n`));
    await page.goto(`${server.base}/`);
    return page.evaluate((params) => new Promise((resolve, reject) => {
      const w = new Worker('/bench-worker.js', { type: 'module' });
      w.onmessage = ({ data }) => resolve(data);
      w.onerror = (e) => reject(new Error(`bench worker: ${e.message}`));
      w.postMessage(params);
    }), { rounds, ops, bytes });
  });
  const us = (x) => Math.round(x * 100) / 100;
  const ratio = m.sframe / m.raw;
  console.log(JSON.stringify({
    frame_bytes: bytes,
    rounds,
    ops_per_round: ops,
    sframe_encrypt_decrypt_us: us(m.sframe),
    raw_aes_gcm_encrypt_decrypt_us: us(m.raw),
    sframe_min_us: us(m.sframeMin),
    raw_min_us: us(m.rawMin),
    ratio: Math.round(ratio * 1000) / 1000,
  }));
  console.log(`ratio: SFrame ${us(m.sframe)} µs / raw AES-GCM ${us(m.raw)} µs per ${bytes}-byte frame (encrypt+decrypt) = ${ratio.toFixed(2)}x`);
  console.log('e2ee bench ok');
} finally {
  server.close();
}
