// The media worker of the meeting's end-to-end encryption: a module worker
// behind `RTCRtpScriptTransform` (`self.onrtctransform`, options
// `{side: 'send'|'receive', kind: 'audio'|'video', id}`), or behind
// encoded insertable streams when the main thread posts
// `{type: 'streams', readable, writable, options}` (transferred). It
// encrypts what we send and decrypts what we receive with frames.js (the
// twin of sfu-e2ee/src/frame.rs) and keeps counters per transform.
//
// Main → worker:
// - `{type: 'epoch', nowMs, epoch, suite, own: {kid, baseKey} | null,
//   others: [{kid, baseKey}]}`: keys are derived here; senders switch to
//   `own`; the receive ring gets `others` and `own`.
// - `{type: 'stats', reqId}` → `{type: 'stats', reqId, stats: {[id]: …}}`.
//
// Rules: a sender with no key drops frames (never sends clear); a frame
// that does not decrypt is dropped and counted, never passed on. Per frame
// there is one AEAD call and no key import.
import { concat, deriveKey } from './sframe.js';
import { FrameDecryptor, FrameEncryptor } from './frames.js';

// One encryptor for every sending track: audio and video share our key,
// so they must share its counter (two counters would reuse nonces).
const encryptor = new FrameEncryptor();
// One ring for every receiving track: a sender's audio and video share a
// key and so a replay window.
const decryptor = new FrameDecryptor();
const stats = {};

// The key ring's clock is the main thread's (`nowMs` of the epoch
// messages, its performance.now()), which has another time origin than
// ours: keep the offset seen at the last message (posting takes well under
// a millisecond, nothing next to a 10 s grace period).
let clockOffset = 0;
const now = () => performance.now() + clockOffset;

let expiryTimer = null;
function scheduleExpiry() {
  clearTimeout(expiryTimer);
  const at = decryptor.pollTimeout();
  if (at === null) return;
  expiryTimer = setTimeout(() => {
    decryptor.handleTimeout(now());
    scheduleExpiry();
  }, Math.max(0, at - now()) + 1);
}

async function installEpoch(m) {
  clockOffset = m.nowMs - performance.now();
  const own = m.own ? await deriveKey(m.suite, BigInt(m.own.kid), m.own.baseKey) : null;
  const others = await Promise.all((m.others || []).map((k) => deriveKey(m.suite, BigInt(k.kid), k.baseKey)));
  if (own) encryptor.setKey(own);
  decryptor.installEpoch(m.nowMs, BigInt(m.epoch), own ? [...others, own] : others);
  scheduleExpiry();
}

const MIME_CODECS = { 'video/vp8': 'vp8', 'video/vp9': 'vp9', 'video/h264': 'h264', 'video/av1': 'av1' };

// The frame's codec from its metadata; without one, audio is Opus and
// video VP8 (what a meeting negotiates first).
function codecOf(frame, kind) {
  const mime = frame.getMetadata?.().mimeType?.toLowerCase();
  if (kind === 'audio' || mime?.startsWith('audio/')) return 'opus';
  return MIME_CODECS[mime] ?? 'vp8';
}

function counters(options) {
  const id = String(options.id);
  stats[id] ??= {
    side: options.side, kind: options.kind, frames: 0, encrypted: 0, decrypted: 0, dropped: 0, errors: {}, lastKid: null,
  };
  return stats[id];
}

function drop(st, e) {
  st.dropped += 1;
  const code = e?.code ?? e?.name ?? 'Error';
  st.errors[code] = (st.errors[code] ?? 0) + 1;
}

// The ArrayBuffer of `bytes`, without a copy when it already is exactly one.
function bufferOf(bytes) {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
}

// libwebrtc's AV1 packetizer drops temporal delimiters (as the AV1 RTP
// payload format recommends), but sfu-e2ee authenticates the one its
// sender's temporal unit begins with, so every AV1 frame from a libwebrtc
// sender would fail. Put the 2-byte delimiter back first; a sender that
// never had one still decrypts on the second try (a failed try records
// nothing in the replay window).
const TEMPORAL_DELIMITER = Uint8Array.of(0x12, 0x00);

async function decryptAv1Aware(codec, data) {
  if (codec !== 'av1' || (data[0] === 0x12 && data[1] === 0x00)) return decryptor.decrypt(now(), codec, data);
  try {
    return await decryptor.decrypt(now(), codec, concat(TEMPORAL_DELIMITER, data));
  } catch (e) {
    if (e?.code !== 'AuthenticationFailed') throw e;
    return decryptor.decrypt(now(), codec, data);
  }
}

function protect(readable, writable, options) {
  const st = counters(options);
  const send = options.side === 'send';
  const transform = new TransformStream({
    async transform(frame, controller) {
      st.frames += 1;
      const codec = codecOf(frame, options.kind);
      try {
        if (send) {
          const out = await encryptor.encrypt(codec, new Uint8Array(frame.data));
          st.lastKid = String(encryptor.kid);
          frame.data = bufferOf(out);
          st.encrypted += 1;
        } else {
          const r = await decryptAv1Aware(codec, new Uint8Array(frame.data));
          st.lastKid = String(r.kid);
          frame.data = bufferOf(r.frame);
          st.decrypted += 1;
        }
      } catch (e) {
        drop(st, e);
        return;
      }
      controller.enqueue(frame);
    },
  });
  readable.pipeThrough(transform).pipeTo(writable).catch((e) => drop(st, e));
}

self.onrtctransform = (event) => {
  const t = event.transformer;
  protect(t.readable, t.writable, t.options);
};

// Epoch messages are handled one after another, in order: a later epoch
// must not be installed before an earlier one that is still deriving.
let queue = Promise.resolve();
self.onmessage = ({ data: m }) => {
  if (m.type === 'streams') {
    protect(m.readable, m.writable, m.options);
  } else if (m.type === 'epoch') {
    queue = queue.then(() => installEpoch(m)).catch((e) => console.error('e2ee worker: epoch', e));
  } else if (m.type === 'stats') {
    // Behind the queue, so stats asked after an epoch see its keys.
    queue = queue.then(() => self.postMessage({ type: 'stats', reqId: m.reqId, stats: structuredClone(stats) }));
  }
};
