//! The AEAD algorithms of RFC 9605 §4.5 with keys expanded once, so sealing a
//! frame costs no key schedule and no allocation.

use aes::cipher::{InnerIvInit, KeyInit as _, StreamCipher};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::CipherSuite;
use crate::Error;

/// AEAD nonce length for every suite (`AEAD.Nn`).
pub const NONCE_LEN: usize = 12;
/// Longest authentication tag of any suite (`AEAD.Nt`).
pub const MAX_TAG_LEN: usize = 16;

/// An expanded AEAD key for one cipher suite.
#[derive(Clone)]
pub struct AeadKey {
    inner: Inner,
    tag_len: usize,
}

#[derive(Clone)]
enum Inner {
    Gcm128(Box<Aes128Gcm>),
    Gcm256(Box<Aes256Gcm>),
    Ctr128 {
        enc: Box<aes::Aes128>,
        auth: Box<Hmac<Sha256>>,
    },
    Ctr256 {
        enc: Box<aes::Aes256>,
        auth: Box<Hmac<Sha512>>,
    },
}

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("AeadKey")
            .field("tag_len", &self.tag_len)
            .finish()
    }
}

type Ctr32<C> = ctr::Ctr32BE<C>;

impl AeadKey {
    /// Expands `key` (`AEAD.Nk` bytes; for the CTR suites the encryption key
    /// followed by the HMAC key, RFC 9605 §4.5.1).
    pub fn new(suite: CipherSuite, key: &[u8]) -> Result<Self, Error> {
        let expected = suite.key_len();
        if key.len() != expected {
            return Err(Error::KeyLength {
                expected,
                got: key.len(),
            });
        }
        let bad = |_| Error::KeyLength {
            expected,
            got: key.len(),
        };
        let inner = match suite {
            CipherSuite::AesGcm128Sha256 => {
                Inner::Gcm128(Box::new(Aes128Gcm::new_from_slice(key).map_err(bad)?))
            }
            CipherSuite::AesGcm256Sha512 => {
                Inner::Gcm256(Box::new(Aes256Gcm::new_from_slice(key).map_err(bad)?))
            }
            CipherSuite::AesCtr128HmacSha256_80
            | CipherSuite::AesCtr128HmacSha256_64
            | CipherSuite::AesCtr128HmacSha256_32 => {
                let (enc, auth) = key.split_at(16);
                Inner::Ctr128 {
                    enc: Box::new(aes::Aes128::new_from_slice(enc).map_err(bad)?),
                    auth: Box::new(<Hmac<Sha256> as KeyInit>::new_from_slice(auth).map_err(
                        |_| Error::KeyLength {
                            expected,
                            got: key.len(),
                        },
                    )?),
                }
            }
            CipherSuite::AesCtr256HmacSha512_80
            | CipherSuite::AesCtr256HmacSha512_64
            | CipherSuite::AesCtr256HmacSha512_32 => {
                let (enc, auth) = key.split_at(32);
                Inner::Ctr256 {
                    enc: Box::new(aes::Aes256::new_from_slice(enc).map_err(bad)?),
                    auth: Box::new(<Hmac<Sha512> as KeyInit>::new_from_slice(auth).map_err(
                        |_| Error::KeyLength {
                            expected,
                            got: key.len(),
                        },
                    )?),
                }
            }
        };
        Ok(Self {
            inner,
            tag_len: suite.tag_len(),
        })
    }

    /// Tag length in bytes (`AEAD.Nt`).
    pub fn tag_len(&self) -> usize {
        self.tag_len
    }

    /// Encrypts `buf` in place and writes the tag into `tag` (its first
    /// `tag_len()` bytes).
    pub fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8; MAX_TAG_LEN],
    ) -> Result<(), Error> {
        match &self.inner {
            Inner::Gcm128(k) => {
                let t = k
                    .encrypt_in_place_detached(nonce.into(), aad, buf)
                    .map_err(|_| Error::CiphertextTruncated)?;
                tag.copy_from_slice(&t);
            }
            Inner::Gcm256(k) => {
                let t = k
                    .encrypt_in_place_detached(nonce.into(), aad, buf)
                    .map_err(|_| Error::CiphertextTruncated)?;
                tag.copy_from_slice(&t);
            }
            Inner::Ctr128 { enc, auth } => {
                Ctr32::<aes::Aes128>::from_core(ctr::CtrCore::inner_iv_init(
                    (**enc).clone(),
                    &ctr_iv(nonce).into(),
                ))
                .apply_keystream(buf);
                let full = hmac_tag(&**auth, self.tag_len, nonce, aad, buf);
                copy_prefix(tag, &full);
            }
            Inner::Ctr256 { enc, auth } => {
                Ctr32::<aes::Aes256>::from_core(ctr::CtrCore::inner_iv_init(
                    (**enc).clone(),
                    &ctr_iv(nonce).into(),
                ))
                .apply_keystream(buf);
                let full = hmac_tag(&**auth, self.tag_len, nonce, aad, buf);
                copy_prefix(tag, &full);
            }
        }
        Ok(())
    }

    /// Verifies `tag` over `aad` and the ciphertext in `buf`, then decrypts
    /// `buf` in place. On failure `buf` is left encrypted.
    pub fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), Error> {
        if tag.len() != self.tag_len {
            return Err(Error::CiphertextTruncated);
        }
        match &self.inner {
            Inner::Gcm128(k) => k
                .decrypt_in_place_detached(nonce.into(), aad, buf, tag.into())
                .map_err(|_| Error::AuthenticationFailed),
            Inner::Gcm256(k) => k
                .decrypt_in_place_detached(nonce.into(), aad, buf, tag.into())
                .map_err(|_| Error::AuthenticationFailed),
            Inner::Ctr128 { enc, auth } => {
                let full = hmac_tag(&**auth, self.tag_len, nonce, aad, buf);
                verify_prefix(&full, tag)?;
                Ctr32::<aes::Aes128>::from_core(ctr::CtrCore::inner_iv_init(
                    (**enc).clone(),
                    &ctr_iv(nonce).into(),
                ))
                .apply_keystream(buf);
                Ok(())
            }
            Inner::Ctr256 { enc, auth } => {
                let full = hmac_tag(&**auth, self.tag_len, nonce, aad, buf);
                verify_prefix(&full, tag)?;
                Ctr32::<aes::Aes256>::from_core(ctr::CtrCore::inner_iv_init(
                    (**enc).clone(),
                    &ctr_iv(nonce).into(),
                ))
                .apply_keystream(buf);
                Ok(())
            }
        }
    }
}

/// The initial counter block: the nonce followed by four zero bytes.
fn ctr_iv(nonce: &[u8; NONCE_LEN]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    for (d, s) in iv.iter_mut().zip(nonce) {
        *d = *s;
    }
    iv
}

/// RFC 9605 §4.5.1 `compute_tag`, before truncation.
fn hmac_tag<M: Mac + Clone>(
    keyed: &M,
    tag_len: usize,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ct: &[u8],
) -> impl AsRef<[u8]> + use<M> {
    let mut mac = keyed.clone();
    mac.update(&(aad.len() as u64).to_be_bytes());
    mac.update(&(ct.len() as u64).to_be_bytes());
    mac.update(&(tag_len as u64).to_be_bytes());
    mac.update(nonce);
    mac.update(aad);
    mac.update(ct);
    mac.finalize().into_bytes()
}

fn copy_prefix(tag: &mut [u8; MAX_TAG_LEN], full: &impl AsRef<[u8]>) {
    for (d, s) in tag.iter_mut().zip(full.as_ref()) {
        *d = *s;
    }
}

fn verify_prefix(full: &impl AsRef<[u8]>, tag: &[u8]) -> Result<(), Error> {
    let expected = full
        .as_ref()
        .get(..tag.len())
        .ok_or(Error::AuthenticationFailed)?;
    if bool::from(expected.ct_eq(tag)) {
        Ok(())
    } else {
        Err(Error::AuthenticationFailed)
    }
}
