// Conformance of the browser's SFrame twin (examples/server/pages/e2ee/
// sframe.js, codec.js, frames.js, transform.js) in real Chromium, run by
// tests/e2ee_sframe_browser.rs:
//
//   node e2ee_sframe.mjs --vectors sframe-rfc9605.json --cross cross.json --out browser.json
//
// A loopback static server serves the modules and the two JSON files; a
// page and a dedicated worker each (1) run every RFC 9605 vector, (2)
// decrypt the crate's frames of every codec, its tampered frames and its
// key-ring script and (3) encrypt the crate's plaintexts; the page also
// drives transform.js through transferred streams, and behind
// RTCRtpScriptTransform in real calls between two of its peer connections
// (fake camera and microphone, VP8, VP9, H.264, AV1 in turn). (3) goes to
// --out for the Rust side to compare byte for byte. Ends with
// `e2ee sframe ok`.
import { createServer } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { args, here, withChromium } from './lib.mjs';

export const PAGES = join(here, '../../examples/server/pages/e2ee');

const TYPES = { '.js': 'text/javascript', '.json': 'application/json', '.html': 'text/html' };

// A static server on 127.0.0.1: `/e2ee/NAME` from `dir`, plus `files`
// (path → file on disk) and `texts` (path → [type, body]). Resolves to
// `{base, close}`.
export function serveStatic({ dir = PAGES, files = {}, texts = {} } = {}) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    let type = TYPES[extname(path)] || 'application/octet-stream';
    let body = null;
    try {
      if (texts[path]) [type, body] = texts[path];
      else if (files[path]) body = readFileSync(files[path]);
      else if (path.startsWith('/e2ee/') && /^[\w.-]+$/.test(path.slice(6))) body = readFileSync(join(dir, path.slice(6)));
    } catch {
      body = null;
    }
    if (body === null) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ base: `http://127.0.0.1:${server.address().port}`, close: () => server.close() });
    });
  });
}

// ----------------------------------------------------------------------
// Browser side. These functions are not run by node: their source becomes
// the module /conformance.js, imported by the page and by the worker, with
// `sframe`, `codec` and `frames` the three modules under test.

function unhex(s) {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}

function hex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

// The `E2eeError` code a promise rejects with, or null if it resolves.
async function errorCode(p) {
  try {
    await p;
    return null;
  } catch (e) {
    if (!e.code) throw e;
    return e.code;
  }
}

// u64 fields past 2^53 must not go through a float.
async function fetchJson(url) {
  const text = await (await fetch(url)).text();
  return JSON.parse(text, (k, v, ctx) => {
    if (typeof v !== 'number' || Number.isSafeInteger(v)) return v;
    check(ctx && /^\d+$/.test(ctx.source), `${k}: unsafe number without its source text`);
    return BigInt(ctx.source);
  });
}

async function rfcVectors(doc) {
  const { Header, AeadKey, SframeKey, keyMaterial, concat } = sframe;
  check(doc.header.length === 289, `header vectors: ${doc.header.length}, expected 289`);
  for (const v of doc.header) {
    const h = new Header(BigInt(v.kid), BigInt(v.ctr));
    const enc = h.encode();
    check(hex(enc) === v.encoded, `header ${v.kid}/${v.ctr}: ${hex(enc)} != ${v.encoded}`);
    check(h.len() === enc.length, `header ${v.kid}/${v.ctr}: len`);
    const d = Header.decode(enc);
    check(d.header.kid === h.kid && d.header.ctr === h.ctr && d.len === enc.length, `header ${v.kid}/${v.ctr}: decode`);
    if (enc.length > 1) {
      const c = await errorCode((async () => Header.decode(enc.subarray(0, enc.length - 1)))());
      check(c === 'HeaderTruncated', `header ${v.kid}/${v.ctr}: truncated decode gave ${c}`);
    }
  }
  let aead = 0;
  for (const section of ['aes_ctr_hmac', 'aes_256_ctr_hmac']) {
    check(doc[section].length === 3, `${section}: ${doc[section].length} vectors, expected 3`);
    for (const v of doc[section]) {
      const a = await AeadKey.create(v.cipher_suite, unhex(v.key));
      const ct = await a.seal(unhex(v.nonce), unhex(v.aad), unhex(v.pt));
      check(hex(ct) === v.ct, `${section} suite ${v.cipher_suite}: seal ${hex(ct)} != ${v.ct}`);
      const pt = await a.open(unhex(v.nonce), unhex(v.aad), ct);
      check(hex(pt) === v.pt, `${section} suite ${v.cipher_suite}: open`);
      const bad = Uint8Array.from(ct);
      bad[bad.length - 1] ^= 1;
      const c = await errorCode(a.open(unhex(v.nonce), unhex(v.aad), bad));
      check(c === 'AuthenticationFailed', `${section} suite ${v.cipher_suite}: tampered tag gave ${c}`);
      aead += 1;
    }
  }
  check(doc.sframe.length === 5, `sframe vectors: ${doc.sframe.length}, expected 5`);
  for (const v of doc.sframe) {
    const what = `sframe suite ${v.cipher_suite}`;
    const [kid, ctr] = [BigInt(v.kid), BigInt(v.ctr)];
    const m = await keyMaterial(v.cipher_suite, kid, unhex(v.base_key));
    check(hex(m.secret) === v.sframe_secret, `${what}: sframe_secret`);
    check(hex(m.key) === v.sframe_key, `${what}: sframe_key`);
    check(hex(m.salt) === v.sframe_salt, `${what}: sframe_salt`);
    const key = await sframe.deriveKey(v.cipher_suite, kid, unhex(v.base_key));
    check(key.kid === kid && key.suite === v.cipher_suite, `${what}: key kid/suite`);
    check(hex(key.nonce(ctr)) === v.nonce, `${what}: nonce`);
    check(hex(concat(new Header(kid, ctr).encode(), unhex(v.metadata))) === v.aad, `${what}: aad`);
    const ct = await key.seal(ctr, unhex(v.metadata), unhex(v.pt));
    check(hex(ct) === v.ct, `${what}: seal ${hex(ct)} != ${v.ct}`);
    const { header, len } = Header.decode(ct);
    check(hex(await key.open(header, len, unhex(v.metadata), ct)) === v.pt, `${what}: open`);
    // Every prefix and every flipped byte is refused.
    for (let cut = 0; cut < ct.length; cut++) {
      const part = ct.subarray(0, cut);
      const c = await errorCode((async () => {
        const d = Header.decode(part);
        return key.open(d.header, d.len, unhex(v.metadata), part);
      })());
      check(c !== null, `${what}: prefix of ${cut} bytes accepted`);
    }
    for (let i = 0; i < ct.length; i++) {
      const bad = Uint8Array.from(ct);
      bad[i] ^= 0x40;
      const c = await errorCode((async () => {
        const d = Header.decode(bad);
        return key.open(d.header, d.len, unhex(v.metadata), bad);
      })());
      check(c !== null, `${what}: flip at ${i} accepted`);
    }
  }
  return { header: doc.header.length, aead, sframe: doc.sframe.length };
}

// The crate's keys of cross.json, derived here.
async function crossKeys(cross) {
  return Promise.all(cross.keys.map((k) => sframe.deriveKey(k.suite, BigInt(k.kid), unhex(k.base_key))));
}

async function crossDecrypt(cross, keys) {
  let n = 0;
  for (const seq of cross.sequences) {
    const dec = new frames.FrameDecryptor();
    dec.installEpoch(0, 1n, [keys[seq.key]]);
    const done = [];
    for (const [i, f] of seq.frames.entries()) {
      if (f.protected === undefined) continue;
      const what = `${seq.name} frame ${i} (${f.codec})`;
      const r = await dec.decrypt(0, f.codec, unhex(f.protected)).catch((e) => {
        throw new Error(`${what}: ${e.message}`);
      });
      check(hex(r.frame) === f.plain, `${what}: plaintext differs`);
      check(r.kid === keys[seq.key].kid && r.ctr === BigInt(i), `${what}: kid ${r.kid} ctr ${r.ctr}`);
      done.push(f);
      n += 1;
    }
    for (const f of done) {
      const c = await errorCode(dec.decrypt(0, f.codec, unhex(f.protected)));
      check(c === 'Replayed', `${seq.name}: second decryption gave ${c}`);
    }
  }
  for (const [i, t] of cross.tampered.entries()) {
    const dec = new frames.FrameDecryptor();
    dec.installEpoch(0, 1n, [keys[t.key]]);
    const c = await errorCode(dec.decrypt(0, t.codec, unhex(t.protected)));
    check(c === t.error, `tampered ${i} (${t.codec}): ${c}, the crate says ${t.error}`);
  }
  for (const [i, s] of cross.seals.entries()) {
    const ct = unhex(s.ct);
    const { header, len } = sframe.Header.decode(ct);
    check(header.ctr === BigInt(s.ctr) && header.kid === keys[s.key].kid, `seal ${i}: header`);
    check(hex(await keys[s.key].open(header, len, unhex(s.metadata), ct)) === s.pt, `seal ${i}: open`);
  }
  return { frames: n, tampered: cross.tampered.length, seals: cross.seals.length };
}

// The crate's key-ring script, op by op, compared with what the crate did.
async function ringScript(cross, keys) {
  const ring = cross.ring;
  const dec = new frames.FrameDecryptor(ring.grace_ms);
  for (const [i, op] of ring.ops.entries()) {
    const what = `ring op ${i} (${op.op})`;
    if (op.op === 'install') {
      dec.installEpoch(op.now, BigInt(op.epoch), op.keys.map((k) => keys[k]));
    } else if (op.op === 'timeout') {
      dec.handleTimeout(op.now);
    } else if (op.op === 'poll') {
      check(dec.pollTimeout() === op.timeout, `${what}: pollTimeout ${dec.pollTimeout()}, crate ${op.timeout}`);
      check(dec.ring.length === op.len, `${what}: ${dec.ring.length} keys, crate ${op.len}`);
    } else {
      let r = null;
      const c = await errorCode(dec.decrypt(op.now, op.codec, unhex(op.protected)).then((x) => { r = x; }));
      check(c === (op.error ?? null), `${what}: ${c}, crate ${op.error}`);
      if (!c) check(hex(r.frame) === op.plain && r.kid === BigInt(op.kid) && r.ctr === BigInt(op.ctr), `${what}: result`);
    }
  }
  return ring.ops.length;
}

async function crossEncrypt(cross, keys) {
  const out = { sequences: [], seals: [] };
  for (const seq of cross.sequences) {
    const enc = new frames.FrameEncryptor();
    check((await errorCode(enc.encrypt('opus', new Uint8Array(4)))) === 'NoSendKey', 'encrypt without a key');
    enc.setKey(keys[seq.key]);
    check(enc.kid === keys[seq.key].kid, 'encryptor kid');
    const mine = [];
    for (const [i, f] of seq.frames.entries()) {
      let p = null;
      const c = await errorCode(enc.encrypt(f.codec, unhex(f.plain)).then((x) => { p = x; }));
      mine.push(c ? { error: c } : { protected: hex(p) });
      const what = `${seq.name} frame ${i} (${f.codec})`;
      check(c === (f.error ?? null), `${what}: ${c}, the crate says ${f.error}`);
      if (!c) check(hex(p) === f.protected, `${what}: protected bytes differ from the crate's`);
    }
    out.sequences.push({ name: seq.name, frames: mine });
  }
  for (const s of cross.seals) out.seals.push(hex(await keys[s.key].seal(BigInt(s.ctr), unhex(s.metadata), unhex(s.pt))));
  return out;
}

// Every byte of one frame per codec flipped in turn: never accepted.
async function flipEveryByte(cross, keys) {
  const seen = new Set();
  let n = 0;
  for (const seq of cross.sequences) {
    for (const f of seq.frames) {
      const kind = f.codec + (f.codec === 'vp8' ? (unhex(f.plain)[0] & 1) : '');
      if (f.protected === undefined || seen.has(kind)) continue;
      seen.add(kind);
      const p = unhex(f.protected);
      for (let i = 0; i < p.length; i++) {
        const dec = new frames.FrameDecryptor();
        dec.installEpoch(0, 1n, [keys[seq.key]]);
        const bad = Uint8Array.from(p);
        bad[i] ^= 0x01;
        check((await errorCode(dec.decrypt(0, f.codec, bad))) !== null, `${f.codec}: flip at ${i} accepted`);
        n += 1;
      }
    }
  }
  return n;
}

// Frames through transform.js in a worker, over transferred streams (the
// encoded-streams entry; RTCRtpScriptTransform shares the same pipe).
async function runTransform(worker, options, chunks) {
  let ctl;
  const readable = new ReadableStream({ start: (c) => { ctl = c; } });
  const got = [];
  let closed;
  const finished = new Promise((r) => { closed = r; });
  const writable = new WritableStream({ write: (c) => { got.push(new Uint8Array(c.data)); }, close: () => closed() });
  worker.postMessage({ type: 'streams', readable, writable, options }, [readable, writable]);
  for (const c of chunks) ctl.enqueue({ data: Uint8Array.from(c).buffer });
  ctl.close();
  await finished;
  return got;
}

function workerStats(worker) {
  const reqId = Math.random();
  return new Promise((resolve) => {
    worker.addEventListener('message', function on({ data }) {
      if (data.type !== 'stats' || data.reqId !== reqId) return;
      worker.removeEventListener('message', on);
      resolve(data.stats);
    });
    worker.postMessage({ type: 'stats', reqId });
  });
}

async function transformChecks(cross) {
  const worker = new Worker('/e2ee/transform.js', { type: 'module' });
  const seqs = cross.sequences;
  const send = seqs[cross.transform.send];
  const recv = seqs[cross.transform.receive];
  const keySpec = (i) => ({ kid: BigInt(cross.keys[i].kid), baseKey: unhex(cross.keys[i].base_key) });
  check(cross.keys[send.key].suite === 4 && cross.keys[recv.key].suite === 4, 'transform keys are suite 4');

  const early = await runTransform(worker, { side: 'send', kind: 'audio', id: 'early' }, [new Uint8Array(20), new Uint8Array(30)]);
  check(early.length === 0, `a sender without a key passed ${early.length} frames on`);

  worker.postMessage({ type: 'epoch', nowMs: performance.now(), epoch: 1n, suite: 4, own: keySpec(send.key), others: [keySpec(recv.key)] });
  const sent = await runTransform(worker, { side: 'send', kind: 'audio', id: 'send-audio' }, send.frames.map((f) => unhex(f.plain)));
  check(sent.length === send.frames.length, `sent ${sent.length} of ${send.frames.length}`);
  sent.forEach((p, i) => check(hex(p) === send.frames[i].protected, `transform send frame ${i} differs from the crate's`));

  // A tampered and a replayed frame are dropped, the others decrypt.
  const incoming = recv.frames.map((f) => unhex(f.protected));
  const tampered = Uint8Array.from(incoming[0]);
  tampered[tampered.length - 1] ^= 0x80;
  const wire = [tampered, ...incoming, incoming[1]];
  const got = await runTransform(worker, { side: 'receive', kind: 'video', id: 'recv-video' }, wire);
  check(got.length === recv.frames.length, `received ${got.length} frames, expected ${recv.frames.length}`);
  got.forEach((p, i) => check(hex(p) === recv.frames[i].plain, `transform receive frame ${i} differs`));
  // The receive ring holds `own` too.
  const echo = await runTransform(worker, { side: 'receive', kind: 'audio', id: 'recv-audio' }, sent);
  check(echo.length === sent.length, `own frames: ${echo.length} of ${sent.length} decrypted`);
  echo.forEach((p, i) => check(hex(p) === send.frames[i].plain, `own frame ${i} differs`));

  const st = await workerStats(worker);
  worker.terminate();
  const e = st.early;
  check(e.frames === 2 && e.dropped === 2 && e.encrypted === 0 && e.errors.NoSendKey === 2, `early stats ${JSON.stringify(e)}`);
  const s = st['send-audio'];
  check(s.side === 'send' && s.kind === 'audio' && s.encrypted === sent.length && s.dropped === 0, `send stats ${JSON.stringify(s)}`);
  check(s.lastKid === String(cross.keys[send.key].kid), `send lastKid ${s.lastKid}`);
  const r = st['recv-video'];
  check(r.decrypted === got.length && r.dropped === 2 && r.frames === wire.length, `receive stats ${JSON.stringify(r)}`);
  check(r.errors.AuthenticationFailed === 1 && r.errors.Replayed === 1, `receive errors ${JSON.stringify(r.errors)}`);
  check(st['recv-audio'].decrypted === sent.length, `own stats ${JSON.stringify(st['recv-audio'])}`);
  return { sent: sent.length, received: got.length + echo.length };
}

// A real call between two peer connections of this page (fake camera and
// microphone), transform.js behind RTCRtpScriptTransform on both ends, the
// video codec forced to `codec`: every frame encrypts and decrypts (codec
// from the frames' metadata), nothing is dropped, and the receiver decodes
// the decrypted video, which it could not if a clear-byte rule broke the
// packetizer or the bitstream.
async function liveCall(cross, codec) {
  const worker = new Worker('/e2ee/transform.js', { type: 'module' });
  const k = cross.keys[cross.sequences[cross.transform.send].key];
  worker.postMessage({
    type: 'epoch', nowMs: performance.now(), epoch: 1n, suite: 4, own: { kid: BigInt(k.kid), baseKey: unhex(k.base_key) }, others: [],
  });
  const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
  const a = new RTCPeerConnection();
  const b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  b.ontrack = (e) => {
    const kind = e.track.kind;
    e.receiver.transform = new RTCRtpScriptTransform(worker, { side: 'receive', kind, id: `recv-${kind}` });
  };
  for (const track of media.getTracks()) {
    const t = a.addTransceiver(track, { direction: 'sendonly' });
    t.sender.transform = new RTCRtpScriptTransform(worker, { side: 'send', kind: track.kind, id: `send-${track.kind}` });
    if (track.kind === 'video') {
      const all = RTCRtpSender.getCapabilities('video').codecs;
      const mine = all.filter((c) => c.mimeType.toLowerCase() === `video/${codec}`);
      t.setCodecPreferences([...mine, ...all.filter((c) => !mine.includes(c))]);
    }
  }
  await a.setLocalDescription();
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription();
  await a.setRemoteDescription(b.localDescription);
  const decoded = async () => {
    let v = { framesDecoded: 0 };
    (await b.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') v = r; });
    return v;
  };
  let st;
  let video;
  const end = Date.now() + 30000;
  for (;;) {
    st = await workerStats(worker);
    video = await decoded();
    const enough = (id) => st[id] && st[id].decrypted >= 20;
    if (enough('recv-video') && enough('recv-audio') && video.framesDecoded >= 20) break;
    if (Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  a.close();
  b.close();
  media.getTracks().forEach((t) => t.stop());
  worker.terminate();
  const what = `${JSON.stringify(st)}, decoded ${video.framesDecoded} ${video.frameWidth}x${video.frameHeight}`;
  const problems = [];
  if (!(st['recv-video']?.decrypted >= 20 && st['recv-audio']?.decrypted >= 20 && video.framesDecoded >= 20)) problems.push('too few frames');
  for (const id of ['send-audio', 'send-video', 'recv-audio', 'recv-video']) {
    // A receiver may hand the transform a frame it already gave (seen once
    // with AV1 on a loaded machine, after a retransmission): the replay
    // window drops it, as it must. Anything else is a failure.
    const errors = { ...st[id]?.errors };
    const replayed = errors.Replayed || 0;
    delete errors.Replayed;
    if (!st[id] || replayed > 2 || st[id].dropped !== replayed || Object.keys(errors).length !== 0) problems.push(`${id} dropped frames`);
  }
  if (video.frameWidth !== 320) problems.push('decoded width');
  return { codec, sent: st['send-video']?.encrypted, decrypted: st['recv-video']?.decrypted, decoded: video.framesDecoded, problems, what };
}

// Every codec must survive a real libwebrtc call. (H.264 once did not: a
// rule that encrypted the whole slice after its NAL header hid the slice
// header's PPS id, and the receiver dropped every IDR; the first
// H264_SLICE_CLEAR bytes of each slice now stay clear.)
async function liveCalls(cross) {
  const have = new Set(RTCRtpSender.getCapabilities('video').codecs.map((c) => c.mimeType.toLowerCase()));
  const out = [];
  for (const codec of ['vp8', 'vp9', 'h264', 'av1']) {
    if (!have.has(`video/${codec}`)) {
      out.push({ codec, skipped: 'not offered by this Chromium' });
      continue;
    }
    const r = await liveCall(cross, codec);
    check(r.problems.length === 0, `live ${codec}: ${r.problems.join(', ')}: ${r.what}`);
    delete r.what;
    out.push(r);
  }
  return out;
}

// Everything but the transform (which needs a worker of its own) and the
// byte flips (the page does those).
async function conformance() {
  const [doc, cross] = await Promise.all([fetchJson('/vectors.json'), fetchJson('/cross.json')]);
  const keys = await crossKeys(cross);
  const rfc = await rfcVectors(doc);
  const decrypted = await crossDecrypt(cross, keys);
  const ring = await ringScript(cross, keys);
  const encrypted = await crossEncrypt(cross, keys);
  return { rfc, decrypted, ring, encrypted, cross, keys };
}

async function runWorker() {
  const { rfc, decrypted, ring, encrypted } = await conformance();
  return { rfc, decrypted, ring, encrypted };
}

async function runPage() {
  const { rfc, decrypted, ring, encrypted, cross, keys } = await conformance();
  const flips = await flipEveryByte(cross, keys);
  const transform = await transformChecks(cross);
  const live = await liveCalls(cross);
  const worker = new Worker('/conformance-worker.js', { type: 'module' });
  const w = await new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => (data.error ? reject(new Error(`worker: ${data.error}`)) : resolve(data));
    worker.onerror = (e) => reject(new Error(`worker: ${e.message}`));
  });
  worker.terminate();
  check(JSON.stringify(w.encrypted) === JSON.stringify(encrypted), 'the worker encrypted differently from the page');
  return { rfc, decrypted, ring, flips, transform, live, worker: { rfc: w.rfc, decrypted: w.decrypted, ring: w.ring }, page: encrypted, workerOut: w.encrypted };
}

const CONFORMANCE_JS = [
  "import * as sframe from '/e2ee/sframe.js';",
  "import * as codec from '/e2ee/codec.js';",
  "import * as frames from '/e2ee/frames.js';",
  'export { codec };',
  ...[unhex, hex, check, errorCode, fetchJson, rfcVectors, crossKeys, crossDecrypt, ringScript, crossEncrypt,
    flipEveryByte, runTransform, workerStats, transformChecks, liveCall, liveCalls, conformance, runWorker, runPage].map((f) => `export ${f}`),
].join('\n');

const WORKER_JS = `import { runWorker } from '/conformance.js';
runWorker().then((r) => postMessage(r), (e) => postMessage({ error: String(e && e.stack || e) }));`;

// ----------------------------------------------------------------------

async function main() {
  for (const a of ['vectors', 'cross', 'out']) if (!args[a]) throw new Error(`--${a} is required`);
  const server = await serveStatic({
    files: { '/vectors.json': args.vectors, '/cross.json': args.cross },
    texts: {
      '/': ['text/html', '<!doctype html><title>e2ee sframe</title>'],
      '/conformance.js': ['text/javascript', CONFORMANCE_JS],
      '/conformance-worker.js': ['text/javascript', WORKER_JS],
    },
  });
  try {
    const result = await withChromium(async (browser) => {
      const page = await browser.newPage();
      page.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));
      page.on('pageerror', (e) => process.stderr.write(`[page] error: ${e.message}\n`));
      await page.goto(`${server.base}/`);
      return page.evaluate(async () => (await import('/conformance.js')).runPage());
    });
    const { page: encrypted, workerOut, ...summary } = result;
    console.log(`page: ${JSON.stringify({ rfc: summary.rfc, decrypted: summary.decrypted, ring: summary.ring, flips: summary.flips })}`);
    console.log(`worker: ${JSON.stringify(summary.worker)}`);
    console.log(`transform.js: ${JSON.stringify(summary.transform)}`);
    for (const l of summary.live) console.log(`live call: ${JSON.stringify(l)}`);
    writeFileSync(args.out, JSON.stringify({ page: encrypted, worker: workerOut }));
    console.log('e2ee sframe ok');
  } finally {
    server.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
