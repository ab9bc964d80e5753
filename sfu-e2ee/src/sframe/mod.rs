//! SFrame (RFC 9605): whole-frame authenticated encryption with a compact
//! KID/CTR header, keys derived from a base key per KID, and a replay window
//! per sender.
//!
//! Implemented here on RustCrypto primitives rather than through the `sframe`
//! crate: its default `ring` backend has no AES-CTR suites and rebuilds the
//! AES key schedule for every frame, while the hot path here must cost one
//! AEAD call and no allocation (measured by `benches/e2ee.rs`).

mod aead;
mod header;
mod replay;

pub use aead::{AeadKey, MAX_TAG_LEN, NONCE_LEN};
pub use header::{Header, MAX_HEADER_LEN};
pub use replay::ReplayWindow;

use hkdf::Hkdf;
use sha2::{Sha256, Sha512};

use crate::Error;

/// SFrame cipher suites (RFC 9605 §8.1, plus the AES-256-CTR suites 6–8 of
/// draft-barnes-sframe-iana-256, which the shared vector file exercises).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum CipherSuite {
    /// AES-128-CTR with an 80-bit HMAC-SHA256 tag.
    AesCtr128HmacSha256_80 = 1,
    /// AES-128-CTR with a 64-bit HMAC-SHA256 tag.
    AesCtr128HmacSha256_64 = 2,
    /// AES-128-CTR with a 32-bit HMAC-SHA256 tag.
    AesCtr128HmacSha256_32 = 3,
    /// AES-128-GCM, HKDF-SHA256.
    AesGcm128Sha256 = 4,
    /// AES-256-GCM, HKDF-SHA512.
    AesGcm256Sha512 = 5,
    /// AES-256-CTR with an 80-bit HMAC-SHA512 tag.
    AesCtr256HmacSha512_80 = 6,
    /// AES-256-CTR with a 64-bit HMAC-SHA512 tag.
    AesCtr256HmacSha512_64 = 7,
    /// AES-256-CTR with a 32-bit HMAC-SHA512 tag.
    AesCtr256HmacSha512_32 = 8,
}

impl CipherSuite {
    /// The suite with IANA code point `id`.
    pub fn from_id(id: u16) -> Result<Self, Error> {
        Ok(match id {
            1 => Self::AesCtr128HmacSha256_80,
            2 => Self::AesCtr128HmacSha256_64,
            3 => Self::AesCtr128HmacSha256_32,
            4 => Self::AesGcm128Sha256,
            5 => Self::AesGcm256Sha512,
            6 => Self::AesCtr256HmacSha512_80,
            7 => Self::AesCtr256HmacSha512_64,
            8 => Self::AesCtr256HmacSha512_32,
            other => return Err(Error::UnsupportedCipherSuite(other)),
        })
    }

    /// IANA code point.
    pub fn id(self) -> u16 {
        self as u16
    }

    /// `AEAD.Nk`: key length in bytes (encryption plus HMAC key for CTR suites).
    pub fn key_len(self) -> usize {
        match self {
            Self::AesCtr128HmacSha256_80
            | Self::AesCtr128HmacSha256_64
            | Self::AesCtr128HmacSha256_32 => 48,
            Self::AesGcm128Sha256 => 16,
            Self::AesGcm256Sha512 => 32,
            Self::AesCtr256HmacSha512_80
            | Self::AesCtr256HmacSha512_64
            | Self::AesCtr256HmacSha512_32 => 96,
        }
    }

    /// `AEAD.Nt`: authentication tag length in bytes.
    pub fn tag_len(self) -> usize {
        match self {
            Self::AesCtr128HmacSha256_80 | Self::AesCtr256HmacSha512_80 => 10,
            Self::AesCtr128HmacSha256_64 | Self::AesCtr256HmacSha512_64 => 8,
            Self::AesCtr128HmacSha256_32 | Self::AesCtr256HmacSha512_32 => 4,
            Self::AesGcm128Sha256 | Self::AesGcm256Sha512 => 16,
        }
    }

    /// `KDF.Nh`: output length of the suite's hash.
    pub fn hash_len(self) -> usize {
        if self.uses_sha512() { 64 } else { 32 }
    }

    fn uses_sha512(self) -> bool {
        matches!(
            self,
            Self::AesGcm256Sha512
                | Self::AesCtr256HmacSha512_80
                | Self::AesCtr256HmacSha512_64
                | Self::AesCtr256HmacSha512_32
        )
    }

    /// HKDF-Extract with an empty salt.
    pub fn hkdf_extract(self, ikm: &[u8]) -> Vec<u8> {
        if self.uses_sha512() {
            Hkdf::<Sha512>::extract(Some(&[]), ikm).0.to_vec()
        } else {
            Hkdf::<Sha256>::extract(Some(&[]), ikm).0.to_vec()
        }
    }

    /// HKDF-Expand of `prk` (a hash-length secret) with `info` into `okm`.
    pub fn hkdf_expand(self, prk: &[u8], info: &[u8], okm: &mut [u8]) -> Result<(), Error> {
        let bad = |_| Error::KeyLength {
            expected: self.hash_len(),
            got: prk.len(),
        };
        if self.uses_sha512() {
            Hkdf::<Sha512>::from_prk(prk)
                .map_err(bad)?
                .expand(info, okm)
        } else {
            Hkdf::<Sha256>::from_prk(prk)
                .map_err(bad)?
                .expand(info, okm)
        }
        .map_err(|_| Error::KeyLength {
            expected: self.hash_len(),
            got: okm.len(),
        })
    }
}

/// The intermediate values of RFC 9605 §4.4.2 key derivation, exposed so the
/// test vectors can check each step.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    /// `sframe_secret = HKDF-Extract("", base_key)`.
    pub secret: Vec<u8>,
    /// `sframe_key`.
    pub key: Vec<u8>,
    /// `sframe_salt`.
    pub salt: [u8; NONCE_LEN],
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMaterial(..)")
    }
}

fn label(prefix: &[u8], kid: u64, suite: CipherSuite) -> Vec<u8> {
    let mut l = Vec::with_capacity(prefix.len() + 10);
    l.extend_from_slice(prefix);
    l.extend_from_slice(&kid.to_be_bytes());
    l.extend_from_slice(&suite.id().to_be_bytes());
    l
}

impl KeyMaterial {
    /// Derives key and salt for `kid` from `base_key`.
    pub fn derive(suite: CipherSuite, kid: u64, base_key: &[u8]) -> Result<Self, Error> {
        let secret = suite.hkdf_extract(base_key);
        let mut key = vec![0u8; suite.key_len()];
        suite.hkdf_expand(
            &secret,
            &label(b"SFrame 1.0 Secret key ", kid, suite),
            &mut key,
        )?;
        let mut salt = [0u8; NONCE_LEN];
        suite.hkdf_expand(
            &secret,
            &label(b"SFrame 1.0 Secret salt ", kid, suite),
            &mut salt,
        )?;
        Ok(Self { secret, key, salt })
    }
}

/// The key of one KID: expanded AEAD key plus salt.
#[derive(Debug, Clone)]
pub struct SframeKey {
    suite: CipherSuite,
    kid: u64,
    aead: AeadKey,
    salt: [u8; NONCE_LEN],
}

impl SframeKey {
    /// Derives the key for `kid` from `base_key` (RFC 9605 §4.4.2).
    pub fn derive(suite: CipherSuite, kid: u64, base_key: &[u8]) -> Result<Self, Error> {
        let m = KeyMaterial::derive(suite, kid, base_key)?;
        Self::from_material(suite, kid, &m.key, m.salt)
    }

    /// A key from already-derived `key` and `salt`.
    pub fn from_material(
        suite: CipherSuite,
        kid: u64,
        key: &[u8],
        salt: [u8; NONCE_LEN],
    ) -> Result<Self, Error> {
        Ok(Self {
            suite,
            kid,
            aead: AeadKey::new(suite, key)?,
            salt,
        })
    }

    /// Key ID.
    pub fn kid(&self) -> u64 {
        self.kid
    }

    /// Cipher suite.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// `nonce = salt XOR encode_big_endian(ctr, Nn)`.
    pub fn nonce(&self, ctr: u64) -> [u8; NONCE_LEN] {
        let mut nonce = self.salt;
        for (n, c) in nonce.iter_mut().skip(NONCE_LEN - 8).zip(ctr.to_be_bytes()) {
            *n ^= c;
        }
        nonce
    }

    /// Appends `header || ciphertext || tag` for `plaintext` to `out`.
    /// `metadata` is authenticated but not written (RFC 9605 §4.4.3).
    pub fn seal(
        &self,
        ctr: u64,
        metadata: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let start = out.len();
        let mut hdr = [0u8; MAX_HEADER_LEN];
        let hlen = Header::new(self.kid, ctr).encode(&mut hdr);
        let hdr = hdr.get(..hlen).ok_or(Error::HeaderTruncated)?;
        out.extend_from_slice(hdr);
        out.extend_from_slice(plaintext);
        self.seal_appended(ctr, start, hlen, metadata, out)
    }

    /// Seals in place: `out[start..start+hlen]` is the header and the bytes
    /// after it are the plaintext; appends the tag.
    pub(crate) fn seal_appended(
        &self,
        ctr: u64,
        start: usize,
        hlen: usize,
        metadata: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let nonce = self.nonce(ctr);
        let mut tag = [0u8; MAX_TAG_LEN];
        let region = out.get_mut(start..).ok_or(Error::HeaderTruncated)?;
        let (hdr, body) = region.split_at_mut(hlen.min(region.len()));
        let mut aad_buf = [0u8; MAX_HEADER_LEN + 64];
        let aad = aad(hdr, metadata, &mut aad_buf);
        match aad {
            Aad::Inline(n) => {
                let a = aad_buf.get(..n).ok_or(Error::HeaderTruncated)?;
                self.aead.seal_in_place(&nonce, a, body, &mut tag)?;
            }
            Aad::Heap(v) => self.aead.seal_in_place(&nonce, &v, body, &mut tag)?,
        }
        out.extend_from_slice(tag.get(..self.aead.tag_len()).unwrap_or(&[]));
        Ok(())
    }

    /// Decrypts `sframe_ciphertext` (`header || ciphertext || tag`, header
    /// already parsed as `header` of `hlen` bytes) into `out` (cleared first).
    pub fn open(
        &self,
        header: Header,
        hlen: usize,
        metadata: &[u8],
        sframe_ciphertext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let tag_len = self.aead.tag_len();
        let hdr = sframe_ciphertext
            .get(..hlen)
            .ok_or(Error::HeaderTruncated)?;
        let rest = sframe_ciphertext
            .get(hlen..)
            .ok_or(Error::HeaderTruncated)?;
        let ct_len = rest
            .len()
            .checked_sub(tag_len)
            .ok_or(Error::CiphertextTruncated)?;
        let (ct, tag) = rest.split_at(ct_len);
        out.clear();
        out.extend_from_slice(ct);
        let nonce = self.nonce(header.ctr);
        let mut aad_buf = [0u8; MAX_HEADER_LEN + 64];
        let result = match aad(hdr, metadata, &mut aad_buf) {
            Aad::Inline(n) => {
                let a = aad_buf.get(..n).ok_or(Error::HeaderTruncated)?;
                self.aead.open_in_place(&nonce, a, out, tag)
            }
            Aad::Heap(v) => self.aead.open_in_place(&nonce, &v, out, tag),
        };
        if result.is_err() {
            out.clear();
        }
        result
    }
}

enum Aad {
    Inline(usize),
    Heap(Vec<u8>),
}

/// `aad = header || metadata`, on the stack when it fits (the usual case:
/// codec clear bytes are at most a few dozen bytes), else on the heap.
fn aad(hdr: &[u8], metadata: &[u8], buf: &mut [u8; MAX_HEADER_LEN + 64]) -> Aad {
    let n = hdr.len() + metadata.len();
    if n <= buf.len() {
        for (d, s) in buf.iter_mut().zip(hdr.iter().chain(metadata)) {
            *d = *s;
        }
        Aad::Inline(n)
    } else {
        let mut v = Vec::with_capacity(n);
        v.extend_from_slice(hdr);
        v.extend_from_slice(metadata);
        Aad::Heap(v)
    }
}
