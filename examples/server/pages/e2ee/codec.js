// Codec-aware clear bytes for the browser: which bytes of a frame stay
// readable so RTP packetizers, depacketizers and the SFU keep working while
// the SFrame tag still authenticates them. The twin of sfu-e2ee/src/codec.rs
// (the rules are documented there); the bytes must be identical.
//
// - 'opus' (any audio) and 'vp9': fully encrypted.
// - 'vp8': 10 clear bytes on keyframes (bit 0 of byte 0 is 0), else 1.
// - 'h264' (Annex B): start codes, NAL headers, non-VCL units and the
//   first H264_SLICE_CLEAR bytes of each slice (extended while the last is
//   00) clear; the rest of each slice encrypted, escaped, ended by a 0x80
//   trailer.
// - 'av1' (low-overhead OBUs): headers and sizes clear (sizes rewritten),
//   sequence headers, temporal delimiters and padding clear whole.
import { E2eeError } from './sframe.js';

/// Codec names with a clear-byte rule.
export const CODECS = ['opus', 'vp8', 'vp9', 'h264', 'av1'];

/// VP8 clear bytes on a keyframe.
export const VP8_KEYFRAME_CLEAR = 10;

/// Trailer byte that ends every protected H.264 slice.
export const H264_TRAILER = 0x80;

/// Whether a VP8 frame is a keyframe: bit 0 of byte 0 is 0 (RFC 6386 §9.1).
export function vp8IsKeyframe(frame) {
  return frame.length > 0 && (frame[0] & 0x01) === 0;
}

/// Clear prefix length for 'opus', 'vp8', 'vp9' (from byte 0 alone, so the
/// receiver finds the same length in the protected frame); `null` for
/// 'h264' and 'av1', which interleave.
export function clearPrefixLen(codec, frame) {
  switch (codec) {
    case 'opus':
    case 'vp9':
      return 0;
    case 'vp8': {
      const need = vp8IsKeyframe(frame) ? VP8_KEYFRAME_CLEAR : 1;
      if (frame.length < need) throw new E2eeError('FrameTooShort');
      return need;
    }
    case 'h264':
    case 'av1':
      return null;
    default:
      throw new TypeError(`no clear-byte rule for codec ${codec}`);
  }
}

/// `frame[s..e]`, refusing ranges a Rust slice would refuse.
export function slice(frame, s, e, code = 'FrameTooShort') {
  if (s > e || e > frame.length) throw new E2eeError(code);
  return frame.subarray(s, e);
}

/// A growable byte buffer (Vec<u8>): frames are assembled piece by piece.
export class Bytes {
  constructor(capacity = 256) {
    this.buf = new Uint8Array(Math.max(capacity, 16));
    this.length = 0;
  }

  reserve(n) {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  push(b) {
    this.reserve(1);
    this.buf[this.length++] = b;
  }

  extend(bytes) {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  /// The bytes so far (a view; copy with `.slice()` to keep).
  view() {
    return this.buf.subarray(0, this.length);
  }

  /// The bytes, in a Uint8Array whose buffer is exactly their length.
  take() {
    return this.buf.length === this.length ? this.buf : this.buf.slice(0, this.length);
  }
}

// ---------------------------------------------------------------- H.264 ----

/// If a start code begins at `at`, `[at, end]`, else null.
function startCodeEnd(frame, at) {
  if (at + 3 <= frame.length && frame[at] === 0 && frame[at + 1] === 0 && frame[at + 2] === 1) return [at, at + 3];
  if (at + 4 <= frame.length && frame[at] === 0 && frame[at + 1] === 0 && frame[at + 2] === 0 && frame[at + 3] === 1) {
    return [at, at + 4];
  }
  return null;
}

/// The next start code at or after `from`; a zero byte right before a
/// 3-byte start code belongs to it (the 4-byte form).
function findStartCode(frame, from) {
  for (let i = from; i + 3 <= frame.length; i++) {
    if (frame[i + 2] > 1) {
      // No `00 00 01` can begin at i, i+1 or i+2 when frame[i+2] > 1.
      i += 2;
      continue;
    }
    if (frame[i] === 0 && frame[i + 1] === 0 && frame[i + 2] === 1) {
      let s = i;
      if (s > from && frame[s - 1] === 0) s -= 1;
      return [s, i + 3];
    }
  }
  return null;
}

/// Bytes after a slice's NAL header that stay clear (codec.rs
/// H264_SLICE_CLEAR): the slice header's PPS id is what libwebrtc reads.
export const H264_SLICE_CLEAR = 4;

/// End of a slice's clear run: H264_SLICE_CLEAR bytes after the NAL header,
/// extended while the last clear byte is zero (codec.rs slice_clear_end).
function sliceClearEnd(frame, nalStart, nalEnd) {
  let end = Math.min(nalStart + 1 + H264_SLICE_CLEAR, nalEnd);
  while (end < nalEnd && frame[end - 1] === 0) end++;
  return end;
}

/// Splits an Annex B frame into pieces `{clear, start, end}` in order:
/// start codes, NAL headers, non-VCL units and each slice's clear run are
/// clear; the rest of a VCL unit (types 1–5) is protected.
export function h264Pieces(frame) {
  const first = startCodeEnd(frame, 0);
  if (!first) throw new E2eeError('MalformedH264');
  const pieces = [{ clear: true, start: 0, end: first[1] }];
  let nalStart = first[1];
  for (;;) {
    const next = findStartCode(frame, nalStart);
    const nalEnd = next ? next[0] : frame.length;
    if (nalEnd <= nalStart) throw new E2eeError('MalformedH264');
    const type = frame[nalStart] & 0x1f;
    if (type >= 1 && type <= 5) {
      const clearEnd = sliceClearEnd(frame, nalStart, nalEnd);
      pieces.push({ clear: true, start: nalStart, end: clearEnd });
      if (clearEnd < nalEnd) pieces.push({ clear: false, start: clearEnd, end: nalEnd });
    } else {
      pieces.push({ clear: true, start: nalStart, end: nalEnd });
    }
    if (!next) return pieces;
    pieces.push({ clear: true, start: next[0], end: next[1] });
    nalStart = next[1];
  }
}

/// Appends `src` to `out` (Bytes) with emulation prevention: `03` after any
/// `00 00` that is followed by a byte ≤ 3.
export function escapeInto(src, out) {
  out.reserve(src.length + (src.length >> 1) + 1);
  let zeros = 0;
  for (let i = 0; i < src.length; i++) {
    const b = src[i];
    if (zeros >= 2 && b <= 3) {
      out.buf[out.length++] = 3;
      zeros = 0;
    }
    out.buf[out.length++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
}

/// Appends `src` to `out` (Bytes) without its emulation prevention bytes.
export function unescapeInto(src, out) {
  out.reserve(src.length);
  let zeros = 0;
  for (let i = 0; i < src.length; i++) {
    const b = src[i];
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out.buf[out.length++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
}

// ------------------------------------------------------------------ AV1 ----

const OBU_SEQUENCE_HEADER = 1;
const OBU_TEMPORAL_DELIMITER = 2;
const OBU_PADDING = 15;

/// An unsigned LEB128 of at most 8 bytes at `data[at..]`: `[value, len]`
/// or null. Values past 2^53 lose precision, but any value that large is
/// refused as an OBU size anyway (it exceeds every frame).
export function readLeb128(data, at = 0) {
  let value = 0;
  for (let i = 0; i < 8; i++) {
    if (at + i >= data.length) return null;
    const b = data[at + i];
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return [value, i + 1];
  }
  return null;
}

/// Appends the minimal LEB128 encoding of `v` to `out` (Bytes).
export function writeLeb128(v, out) {
  for (;;) {
    const b = v % 128;
    v = Math.floor(v / 128);
    if (v === 0) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

/// The OBU at `at`: header `[start, headerEnd)`, whether it has a size
/// field, payload `[payloadStart, end)`, whether its payload is protected.
export function parseObu(frame, at) {
  if (at >= frame.length) throw new E2eeError('MalformedAv1');
  const h = frame[at];
  if ((h & 0x80) !== 0) throw new E2eeError('MalformedAv1');
  const type = (h >> 3) & 0x0f;
  const headerEnd = at + ((h & 0x04) !== 0 ? 2 : 1);
  if (headerEnd > frame.length) throw new E2eeError('MalformedAv1');
  const hasSize = (h & 0x02) !== 0;
  let payloadStart = headerEnd;
  let end = frame.length;
  if (hasSize) {
    const leb = readLeb128(frame, headerEnd);
    if (!leb) throw new E2eeError('MalformedAv1');
    payloadStart = headerEnd + leb[1];
    end = payloadStart + leb[0];
    if (end > frame.length) throw new E2eeError('MalformedAv1');
  }
  const clearType = type === OBU_SEQUENCE_HEADER || type === OBU_TEMPORAL_DELIMITER || type === OBU_PADDING;
  return { start: at, headerEnd, hasSize, payloadStart, end, protected: !clearType && end > payloadStart };
}

/// Every OBU of a temporal unit; only the last may lack a size field.
export function parseObus(frame) {
  const obus = [];
  let at = 0;
  while (at < frame.length) {
    const obu = parseObu(frame, at);
    if (!obu.hasSize && obu.end !== frame.length) throw new E2eeError('MalformedAv1');
    at = obu.end;
    obus.push(obu);
  }
  return obus;
}
