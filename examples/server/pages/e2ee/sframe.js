// SFrame (RFC 9605) for the browser on WebCrypto alone: the compact KID/CTR
// header, key derivation per KID from a base key, the AEAD of every cipher
// suite sfu-e2ee implements, and the per-sender replay window. It is the
// twin of sfu-e2ee/src/sframe/{mod.rs,aead.rs,header.rs,replay.rs} and must
// produce the same bytes (tests/e2ee_sframe_browser.rs checks that against
// the crate, tests/browser/e2ee_sframe.mjs against the RFC's vectors).
//
// KIDs, CTRs and epochs are BigInt (they are u64 on the wire). Errors are
// `E2eeError`s whose `code` is the name of the crate's `Error` variant.

const subtle = globalThis.crypto.subtle;

/// The crate's `Error`, by variant name in `code` (plus its fields).
export class E2eeError extends Error {
  constructor(code, fields = {}) {
    const detail = Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(' ');
    super(detail ? `${code} (${detail})` : code);
    this.name = 'E2eeError';
    this.code = code;
    Object.assign(this, fields);
  }
}

// ------------------------------------------------------------- suites ----

/// `AEAD.Nn` for every suite.
export const NONCE_LEN = 12;
/// Config byte, 8-byte KID, 8-byte CTR.
export const MAX_HEADER_LEN = 17;

// Per suite: AES mode, AES key bytes, hash, Nh, Nk, Nt (RFC 9605 §8.1;
// 6–8 from draft-barnes-sframe-iana-256 as in the crate).
const SUITES = new Map([
  [1, { mode: 'AES-CTR', encLen: 16, hash: 'SHA-256', nh: 32, nk: 48, nt: 10 }],
  [2, { mode: 'AES-CTR', encLen: 16, hash: 'SHA-256', nh: 32, nk: 48, nt: 8 }],
  [3, { mode: 'AES-CTR', encLen: 16, hash: 'SHA-256', nh: 32, nk: 48, nt: 4 }],
  [4, { mode: 'AES-GCM', encLen: 16, hash: 'SHA-256', nh: 32, nk: 16, nt: 16 }],
  [5, { mode: 'AES-GCM', encLen: 32, hash: 'SHA-512', nh: 64, nk: 32, nt: 16 }],
  [6, { mode: 'AES-CTR', encLen: 32, hash: 'SHA-512', nh: 64, nk: 96, nt: 10 }],
  [7, { mode: 'AES-CTR', encLen: 32, hash: 'SHA-512', nh: 64, nk: 96, nt: 8 }],
  [8, { mode: 'AES-CTR', encLen: 32, hash: 'SHA-512', nh: 64, nk: 96, nt: 4 }],
]);

/// The parameters of suite `id` (`{id, mode, encLen, hash, nh, nk, nt}`),
/// or `UnsupportedCipherSuite`.
export function suite(id) {
  const s = SUITES.get(Number(id));
  if (!s) throw new E2eeError('UnsupportedCipherSuite', { suite: id });
  return { id: Number(id), ...s };
}

const U64_MAX = (1n << 64n) - 1n;

function u64(v, what) {
  const b = BigInt(v);
  if (b < 0n || b > U64_MAX) throw new RangeError(`${what} ${v} is not a u64`);
  return b;
}

export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function be64(v) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(v));
  return out;
}

// --------------------------------------------------------------- HKDF ----

// WebCrypto's own HKDF hides the PRK, which the vectors check and which
// mls.js's per-sender base keys start from; HMAC gives both steps exactly.
function hmacKey(hash, raw) {
  return subtle.importKey('raw', raw, { name: 'HMAC', hash }, false, ['sign']);
}

function hashOf(suiteOrHash) {
  return typeof suiteOrHash === 'string' ? suiteOrHash : suite(suiteOrHash).hash;
}

const hashLen = (hash) => (hash === 'SHA-512' ? 64 : 32);

/// HKDF-Extract with an empty salt (`suiteOrHash`: a suite id or
/// 'SHA-256'/'SHA-512'). An empty HMAC key equals Nh zero bytes (RFC 5869
/// §2.2), and WebCrypto refuses empty HMAC keys.
export async function hkdfExtract(suiteOrHash, ikm) {
  const hash = hashOf(suiteOrHash);
  const key = await hmacKey(hash, new Uint8Array(hashLen(hash)));
  return new Uint8Array(await subtle.sign('HMAC', key, ikm));
}

/// HKDF-Expand of `prk` (at least Nh bytes) with `info` into `length` bytes.
export async function hkdfExpand(suiteOrHash, prk, info, length) {
  const hash = hashOf(suiteOrHash);
  const nh = hashLen(hash);
  if (prk.length < nh) throw new E2eeError('KeyLength', { expected: nh, got: prk.length });
  if (length > 255 * nh) throw new E2eeError('KeyLength', { expected: nh, got: length });
  const key = await hmacKey(hash, prk);
  const out = new Uint8Array(length);
  let t = new Uint8Array(0);
  for (let i = 1, at = 0; at < length; i++) {
    t = new Uint8Array(await subtle.sign('HMAC', key, concat(t, info, [i])));
    out.set(t.subarray(0, Math.min(nh, length - at)), at);
    at += nh;
  }
  return out;
}

const enc = new TextEncoder();

function label(prefix, kid, suiteId) {
  return concat(enc.encode(prefix), be64(kid), [suiteId >> 8, suiteId & 0xff]);
}

/// RFC 9605 §4.4.2 step by step: `{secret, key, salt}` for `kid`.
export async function keyMaterial(suiteId, kid, baseKey) {
  const s = suite(suiteId);
  const k = u64(kid, 'KID');
  const secret = await hkdfExtract(s.id, baseKey);
  const key = await hkdfExpand(s.id, secret, label('SFrame 1.0 Secret key ', k, s.id), s.nk);
  const salt = await hkdfExpand(s.id, secret, label('SFrame 1.0 Secret salt ', k, s.id), NONCE_LEN);
  return { secret, key, salt };
}

// ------------------------------------------------------------- header ----

function byteLen(v) {
  let n = 0;
  for (let x = v; x > 0n; x >>= 8n) n++;
  return Math.max(n, 1);
}

/// An SFrame header (RFC 9605 §4.3): which key (KID), which counter (CTR).
export class Header {
  constructor(kid, ctr) {
    this.kid = u64(kid, 'KID');
    this.ctr = u64(ctr, 'CTR');
  }

  /// Encoded length in bytes (1 to 17).
  len() {
    return 1 + (this.kid < 8n ? 0 : byteLen(this.kid)) + (this.ctr < 8n ? 0 : byteLen(this.ctr));
  }

  /// Writes the shortest encoding at `out[at..]`; returns its length.
  encodeInto(out, at = 0) {
    let config = 0;
    let pos = at + 1;
    const put = (v, n) => {
      for (let i = n - 1; i >= 0; i--) out[pos++] = Number((v >> BigInt(8 * i)) & 0xffn);
    };
    if (this.kid < 8n) {
      config |= Number(this.kid) << 4;
    } else {
      const n = byteLen(this.kid);
      config |= 0x80 | ((n - 1) << 4);
      put(this.kid, n);
    }
    if (this.ctr < 8n) {
      config |= Number(this.ctr);
    } else {
      const n = byteLen(this.ctr);
      config |= 0x08 | (n - 1);
      put(this.ctr, n);
    }
    out[at] = config;
    return pos - at;
  }

  /// The shortest encoding.
  encode() {
    const out = new Uint8Array(this.len());
    this.encodeInto(out);
    return out;
  }

  /// Parses the header at the start of `data`: `{header, len}`.
  static decode(data) {
    if (data.length < 1) throw new E2eeError('HeaderTruncated');
    const config = data[0];
    let pos = 1;
    const field = (extended, value) => {
      if (!extended) return BigInt(value);
      const n = value + 1;
      if (pos + n > data.length) throw new E2eeError('HeaderTruncated');
      let v = 0n;
      for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(data[pos + i]);
      pos += n;
      return v;
    };
    const kid = field((config & 0x80) !== 0, (config >> 4) & 0x07);
    const ctr = field((config & 0x08) !== 0, config & 0x07);
    return { header: new Header(kid, ctr), len: pos };
  }
}

// --------------------------------------------------------------- AEAD ----

/// The AEAD of one suite with its CryptoKeys imported once (aead.rs
/// `AeadKey`): `seal` → `ct || tag`, `open` → plaintext.
export class AeadKey {
  static async create(suiteId, key) {
    const s = suite(suiteId);
    if (key.length !== s.nk) throw new E2eeError('KeyLength', { expected: s.nk, got: key.length });
    const a = new AeadKey();
    a.suite = s;
    a.tagLen = s.nt;
    if (s.mode === 'AES-GCM') {
      a.enc = await subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
    } else {
      // RFC 9605 §4.5.1: the encryption key, then the HMAC key.
      a.enc = await subtle.importKey('raw', key.subarray(0, s.encLen), 'AES-CTR', false, ['encrypt', 'decrypt']);
      a.auth = await hmacKey(s.hash, key.subarray(s.encLen));
    }
    return a;
  }

  // aead.rs `hmac_tag`: lengths of aad, ct and tag as u64, nonce, aad, ct.
  async hmacTag(nonce, aad, ct) {
    const input = new Uint8Array(24 + NONCE_LEN + aad.length + ct.length);
    const view = new DataView(input.buffer);
    view.setBigUint64(0, BigInt(aad.length));
    view.setBigUint64(8, BigInt(ct.length));
    view.setBigUint64(16, BigInt(this.tagLen));
    input.set(nonce, 24);
    input.set(aad, 24 + NONCE_LEN);
    input.set(ct, 24 + NONCE_LEN + aad.length);
    return new Uint8Array(await subtle.sign('HMAC', this.auth, input)).subarray(0, this.tagLen);
  }

  // The initial counter block: nonce || 00000000, a 32-bit counter (Ctr32BE).
  ctrParams(nonce) {
    const counter = new Uint8Array(16);
    counter.set(nonce);
    return { name: 'AES-CTR', counter, length: 32 };
  }

  /// `ct || tag` of `plaintext`.
  async seal(nonce, aad, plaintext) {
    if (this.suite.mode === 'AES-GCM') {
      return new Uint8Array(
        await subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, this.enc, plaintext),
      );
    }
    const ct = new Uint8Array(await subtle.encrypt(this.ctrParams(nonce), this.enc, plaintext));
    return concat(ct, await this.hmacTag(nonce, aad, ct));
  }

  /// The plaintext of `ctAndTag`, or `AuthenticationFailed`.
  async open(nonce, aad, ctAndTag) {
    if (ctAndTag.length < this.tagLen) throw new E2eeError('CiphertextTruncated');
    if (this.suite.mode === 'AES-GCM') {
      try {
        return new Uint8Array(
          await subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, this.enc, ctAndTag),
        );
      } catch {
        throw new E2eeError('AuthenticationFailed');
      }
    }
    const ct = ctAndTag.subarray(0, ctAndTag.length - this.tagLen);
    const tag = ctAndTag.subarray(ctAndTag.length - this.tagLen);
    const expected = await this.hmacTag(nonce, aad, ct);
    // Compare every byte whatever the first difference (as subtle's ct_eq).
    let diff = 0;
    for (let i = 0; i < tag.length; i++) diff |= tag[i] ^ expected[i];
    if (diff !== 0) throw new E2eeError('AuthenticationFailed');
    return new Uint8Array(await subtle.decrypt(this.ctrParams(nonce), this.enc, ct));
  }
}

// ---------------------------------------------------------- SframeKey ----

/// The key of one KID: its AEAD key (imported once) and salt.
export class SframeKey {
  /// Derives the key for `kid` from `baseKey` (RFC 9605 §4.4.2).
  static async derive(suiteId, kid, baseKey) {
    const m = await keyMaterial(suiteId, kid, baseKey);
    return SframeKey.fromMaterial(suiteId, kid, m.key, m.salt);
  }

  /// A key from already-derived `key` and `salt`.
  static async fromMaterial(suiteId, kid, key, salt) {
    const k = new SframeKey();
    k.kid = u64(kid, 'KID');
    k.suite = suite(suiteId).id;
    k.aead = await AeadKey.create(suiteId, key);
    k.salt = Uint8Array.from(salt);
    k.saltLow = new DataView(k.salt.buffer).getBigUint64(4);
    return k;
  }

  get tagLen() {
    return this.aead.tagLen;
  }

  /// `nonce = salt XOR encode_big_endian(ctr, Nn)`.
  nonce(ctr) {
    const n = new Uint8Array(NONCE_LEN);
    n.set(this.salt.subarray(0, 4));
    new DataView(n.buffer).setBigUint64(4, this.saltLow ^ BigInt(ctr));
    return n;
  }

  /// `header || ciphertext || tag`; `metadata` is authenticated, not written.
  async seal(ctr, metadata, plaintext) {
    const header = new Header(this.kid, ctr);
    const hdr = header.encode();
    const body = await this.aead.seal(this.nonce(header.ctr), concat(hdr, metadata), plaintext);
    return concat(hdr, body);
  }

  /// The plaintext of `sframeCiphertext`, whose header was parsed as
  /// `header` of `hlen` bytes.
  async open(header, hlen, metadata, sframeCiphertext) {
    if (hlen > sframeCiphertext.length) throw new E2eeError('HeaderTruncated');
    const rest = sframeCiphertext.subarray(hlen);
    if (rest.length < this.aead.tagLen) throw new E2eeError('CiphertextTruncated');
    const aad = concat(sframeCiphertext.subarray(0, hlen), metadata);
    return this.aead.open(this.nonce(header.ctr), aad, rest);
  }
}

/// `SframeKey.derive`.
export function deriveKey(suiteId, kid, baseKey) {
  return SframeKey.derive(suiteId, kid, baseKey);
}

// ------------------------------------------------------------- replay ----

/// Bits in the replay window (replay.rs `WINDOW`): audio and video of one
/// sender share a key and interleave in counter space.
export const WINDOW = 1024n;
const WIN = Number(WINDOW);

/// Remembers which counters near the newest one were already accepted.
export class ReplayWindow {
  constructor() {
    this.newest = null;
    this.bits = new Uint32Array(WIN / 32);
  }

  /// Whether `ctr` would be accepted (not seen, not too old); records nothing.
  check(ctr) {
    const c = BigInt(ctr);
    if (this.newest === null || c > this.newest) return true;
    if (this.newest - c >= WINDOW) return false;
    return !this.bit(Number(c % WINDOW));
  }

  /// Records `ctr`; call only after the frame authenticated.
  accept(ctr) {
    const c = BigInt(ctr);
    if (this.newest !== null && c <= this.newest) {
      // Inside the window: only its bit changes.
    } else if (this.newest !== null && c - this.newest < WINDOW) {
      // Counters skipped between the old newest and `c` were never seen.
      const first = Number((this.newest + 1n) % WINDOW);
      const gap = Number(c - this.newest) - 1;
      for (let j = 0; j < gap; j++) this.set((first + j) % WIN, false);
      this.newest = c;
    } else {
      this.bits.fill(0);
      this.newest = c;
    }
    this.set(Number(c % WINDOW), true);
  }

  bit(i) {
    return (this.bits[i >>> 5] & (1 << (i & 31))) !== 0;
  }

  set(i, on) {
    if (on) this.bits[i >>> 5] |= 1 << (i & 31);
    else this.bits[i >>> 5] &= ~(1 << (i & 31));
  }
}
