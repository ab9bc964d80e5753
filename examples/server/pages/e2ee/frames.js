// Frame encryption for a call in the browser: SFrame with codec clear
// bytes on the send side; a key ring with per-key replay windows and an
// epoch grace period on the receive side. The twin of
// sfu-e2ee/src/frame.rs (`FrameEncryptor`, `KeyRing`, `FrameDecryptor`):
// same bytes out, same errors (`E2eeError` codes named like the crate's
// `Error` variants), time always an argument (ms).
import { E2eeError, Header, ReplayWindow, concat } from './sframe.js';
import {
  Bytes, H264_TRAILER, clearPrefixLen, escapeInto, h264Pieces, parseObus, slice, unescapeInto, writeLeb128,
} from './codec.js';

export { E2eeError };

/// How long keys of the previous epoch keep decrypting after a new epoch is
/// installed, so frames in flight across the change still play.
export const DEFAULT_GRACE_MS = 10_000;

const U64_MAX = (1n << 64n) - 1n;

/// Encrypts the local sender's frames under one key. Share one encryptor
/// between all tracks of a sender: they share the key, so they must share
/// its counter.
export class FrameEncryptor {
  constructor() {
    this.key = null;
    this.nextCtr = 0n;
  }

  /// Switches to `key` (a new epoch's key); its counter starts at 0, safe
  /// because every epoch has a fresh key.
  setKey(key) {
    this.key = key;
    this.nextCtr = 0n;
  }

  /// The KID frames are currently sent under (BigInt), or null.
  get kid() {
    return this.key ? this.key.kid : null;
  }

  /// The protected form of `frame` (Uint8Array) for `codec`.
  async encrypt(codec, frame) {
    // Key and counter are taken before any await, so encryptions in flight
    // at once never share a counter.
    const key = this.key;
    if (!key) throw new E2eeError('NoSendKey');
    const ctr = this.nextCtr;
    if (ctr === U64_MAX) throw new E2eeError('CounterExhausted');
    this.nextCtr = ctr + 1n;
    const n = clearPrefixLen(codec, frame);
    if (n !== null) {
      const clear = frame.subarray(0, n);
      const sealed = await key.seal(ctr, clear, frame.subarray(n));
      // No clear bytes (Opus, VP9): the SFrame ciphertext is the frame; spare the copy.
      return n === 0 ? sealed : concat(clear, sealed);
    }
    return codec === 'h264' ? encryptH264(key, ctr, frame) : encryptAv1(key, ctr, frame);
  }
}

/// Lengths of the protected segments: payload lengths plus the SFrame
/// header on the first and the tag on the last.
function segmentLengths(payloads, hlen, tag) {
  if (payloads.length === 0) return;
  payloads[0] += hlen;
  payloads[payloads.length - 1] += tag;
}

async function encryptH264(key, ctr, frame) {
  const pieces = h264Pieces(frame);
  const metadata = new Bytes(64);
  const plain = new Bytes(frame.length);
  const segLens = [];
  for (const p of pieces) {
    if (p.clear) {
      metadata.extend(slice(frame, p.start, p.end));
    } else {
      plain.extend(slice(frame, p.start, p.end));
      segLens.push(p.end - p.start);
    }
  }
  if (segLens.length === 0) throw new E2eeError('NothingToEncrypt');
  const body = await key.seal(ctr, metadata.view(), plain.view());
  segmentLengths(segLens, new Header(key.kid, ctr).len(), key.tagLen);
  const out = new Bytes(frame.length + body.length - plain.length + 16);
  let pos = 0;
  let k = 0;
  for (const p of pieces) {
    if (p.clear) {
      out.extend(slice(frame, p.start, p.end));
    } else {
      const len = segLens[k];
      if (len === undefined) throw new E2eeError('MalformedH264');
      escapeInto(slice(body, pos, pos + len), out);
      out.push(H264_TRAILER);
      pos += len;
      k += 1;
    }
  }
  return out.take();
}

async function encryptAv1(key, ctr, frame) {
  const obus = parseObus(frame);
  const plain = new Bytes(frame.length);
  const segLens = [];
  for (const o of obus) {
    if (!o.protected) continue;
    plain.extend(slice(frame, o.payloadStart, o.end));
    segLens.push(o.end - o.payloadStart);
  }
  if (segLens.length === 0) throw new E2eeError('NothingToEncrypt');
  segmentLengths(segLens, new Header(key.kid, ctr).len(), key.tagLen);
  // Pass 1: the clear bytes as they will appear (headers, rewritten sizes,
  // clear OBUs) are the metadata. Pass 2 writes the frame.
  const metadata = new Bytes(64);
  writeAv1(frame, obus, segLens, null, metadata);
  const body = await key.seal(ctr, metadata.view(), plain.view());
  const out = new Bytes(metadata.length + body.length);
  writeAv1(frame, obus, segLens, body, out);
  return out.take();
}

/// Writes OBUs with protected payloads of `segLens` taken from `body`
/// (null: only the clear bytes, i.e. the metadata).
function writeAv1(frame, obus, segLens, body, out) {
  let pos = 0;
  let k = 0;
  for (const o of obus) {
    out.extend(slice(frame, o.start, o.headerEnd));
    let len = o.end - o.payloadStart;
    if (o.protected) {
      len = segLens[k];
      if (len === undefined) throw new E2eeError('MalformedAv1');
    }
    if (o.hasSize) writeLeb128(len, out);
    if (!o.protected) {
      out.extend(slice(frame, o.payloadStart, o.end));
    } else {
      if (body) out.extend(slice(body, pos, pos + len));
      pos += len;
      k += 1;
    }
  }
}

/// Receive keys of the current epoch and, for a grace period, the previous one.
export class KeyRing {
  constructor(graceMs = DEFAULT_GRACE_MS) {
    this.graceMs = graceMs;
    // {key, epoch: BigInt, window, expires: ms | null (current epoch)}
    this.entries = [];
  }

  /// Installs the keys of `epoch`. Keys of the epoch that was current start
  /// their grace period; keys of anything older are dropped now.
  installEpoch(nowMs, epoch, keys) {
    const ep = BigInt(epoch);
    this.entries = this.entries.filter((e) => e.expires === null && e.epoch !== ep);
    const until = nowMs + this.graceMs;
    for (const e of this.entries) e.expires = until;
    for (const key of keys) this.entries.push({ key, epoch: ep, window: new ReplayWindow(), expires: null });
  }

  /// Drops keys whose grace period is over.
  handleTimeout(nowMs) {
    this.entries = this.entries.filter((e) => e.expires === null || e.expires > nowMs);
  }

  /// When the next previous-epoch key expires (ms), or null.
  pollTimeout() {
    let min = null;
    for (const e of this.entries) if (e.expires !== null && (min === null || e.expires < min)) min = e.expires;
    return min;
  }

  /// Number of installed keys (current plus grace).
  get length() {
    return this.entries.length;
  }

  entry(nowMs, kid) {
    // Current epoch first: an epoch counter that wrapped its KID bits must
    // not pick the old key.
    const e = this.entries.find((x) => x.key.kid === kid && x.expires === null)
      ?? this.entries.find((x) => x.key.kid === kid);
    if (!e) throw new E2eeError('UnknownKeyId', { kid });
    if (e.expires !== null && e.expires <= nowMs) throw new E2eeError('KeyExpired', { kid });
    return e;
  }

  /// Checks replay, authenticates and decrypts one SFrame ciphertext:
  /// `{header, plain}`.
  async open(nowMs, metadata, sframe) {
    const { header, len } = Header.decode(sframe);
    const e = this.entry(nowMs, header.kid);
    const replayed = () => new E2eeError('Replayed', { kid: header.kid, ctr: header.ctr });
    if (!e.window.check(header.ctr)) throw replayed();
    const plain = await e.key.open(header, len, metadata, sframe);
    // A decryption of the same counter may have completed while we awaited.
    if (!e.window.check(header.ctr)) throw replayed();
    e.window.accept(header.ctr);
    return { header, plain };
  }
}

/// Decrypts frames of every sender in the call.
export class FrameDecryptor {
  constructor(graceMs = DEFAULT_GRACE_MS) {
    this.ring = new KeyRing(graceMs);
  }

  installEpoch(nowMs, epoch, keys) {
    this.ring.installEpoch(nowMs, epoch, keys);
  }

  handleTimeout(nowMs) {
    this.ring.handleTimeout(nowMs);
  }

  pollTimeout() {
    return this.ring.pollTimeout();
  }

  /// The original frame of `protected` (Uint8Array) and its header's KID
  /// and CTR: `{frame, kid, ctr}`.
  async decrypt(nowMs, codec, protectedFrame) {
    const n = clearPrefixLen(codec, protectedFrame);
    let r;
    if (n !== null) {
      const clear = protectedFrame.subarray(0, n);
      const { header, plain } = await this.ring.open(nowMs, clear, protectedFrame.subarray(n));
      r = { header, frame: n === 0 ? plain : concat(clear, plain) };
    } else if (codec === 'h264') {
      r = await this.decryptH264(nowMs, protectedFrame);
    } else {
      r = await this.decryptAv1(nowMs, protectedFrame);
    }
    return { frame: r.frame, kid: r.header.kid, ctr: r.header.ctr };
  }

  async decryptH264(nowMs, frame) {
    const pieces = h264Pieces(frame);
    const metadata = new Bytes(64);
    const body = new Bytes(frame.length);
    const segLens = [];
    for (const p of pieces) {
      if (p.clear) {
        metadata.extend(slice(frame, p.start, p.end));
        continue;
      }
      const seg = slice(frame, p.start, p.end);
      if (seg.length === 0 || seg[seg.length - 1] !== H264_TRAILER) throw new E2eeError('MalformedH264');
      const before = body.length;
      unescapeInto(seg.subarray(0, seg.length - 1), body);
      segLens.push(body.length - before);
    }
    if (segLens.length === 0) throw new E2eeError('NothingToEncrypt');
    const { header, plain } = await this.ring.open(nowMs, metadata.view(), body.view());
    payloadLengths(segLens, header, plain.length);
    const out = new Bytes(frame.length);
    let pos = 0;
    let k = 0;
    for (const p of pieces) {
      if (p.clear) {
        out.extend(slice(frame, p.start, p.end));
      } else {
        const len = segLens[k];
        if (len === undefined) throw new E2eeError('MalformedH264');
        out.extend(slice(plain, pos, pos + len));
        pos += len;
        k += 1;
      }
    }
    return { header, frame: out.take() };
  }

  async decryptAv1(nowMs, frame) {
    const obus = parseObus(frame);
    const metadata = new Bytes(64);
    const body = new Bytes(frame.length);
    const segLens = [];
    for (const o of obus) {
      metadata.extend(slice(frame, o.start, o.payloadStart));
      const payload = slice(frame, o.payloadStart, o.end);
      if (o.protected) {
        body.extend(payload);
        segLens.push(payload.length);
      } else {
        metadata.extend(payload);
      }
    }
    if (segLens.length === 0) throw new E2eeError('NothingToEncrypt');
    const { header, plain } = await this.ring.open(nowMs, metadata.view(), body.view());
    payloadLengths(segLens, header, plain.length);
    const out = new Bytes(frame.length);
    let pos = 0;
    let k = 0;
    for (const o of obus) {
      out.extend(slice(frame, o.start, o.headerEnd));
      if (o.protected) {
        const len = segLens[k];
        if (len === undefined) throw new E2eeError('MalformedAv1');
        if (o.hasSize) writeLeb128(len, out);
        out.extend(slice(plain, pos, pos + len));
        pos += len;
        k += 1;
      } else {
        out.extend(slice(frame, o.headerEnd, o.end));
      }
    }
    return { header, frame: out.take() };
  }
}

/// Turns protected segment lengths back into plaintext payload lengths.
function payloadLengths(segs, header, plainLen) {
  const hlen = header.len();
  const total = segs.reduce((a, b) => a + b, 0);
  const tag = total - (hlen + plainLen);
  if (tag < 0) throw new E2eeError('CiphertextTruncated');
  if (segs.length === 0) return;
  segs[0] -= hlen;
  if (segs[0] < 0) throw new E2eeError('CiphertextTruncated');
  segs[segs.length - 1] -= tag;
  if (segs[segs.length - 1] < 0) throw new E2eeError('CiphertextTruncated');
}
