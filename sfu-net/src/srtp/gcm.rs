//! In-place SRTP for `AEAD_AES_128_GCM` and `AEAD_AES_256_GCM` (RFC 7714),
//! the profiles on nearly every media packet. `rtc-srtp` copies each packet into a fresh buffer
//! and parses a full header model per call; this path seals and opens the
//! caller's buffer where it lies, with per-SSRC rollover and replay state
//! in a small vector. It is checked byte-for-byte against `rtc-srtp`.

use ring::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use rtc_crypto::{BlockCipherAlgorithm, RTCCrypto};

use super::SrtpDrop;
use crate::error::Error;

/// GCM authentication tag length (RFC 7714 §14.2: 16 octets).
pub(crate) const TAG_LEN: usize = 16;
const SALT_LEN: usize = 12;
/// Replay window in packets (a power of two, a multiple of 64).
const WINDOW: u64 = 1024;
const LABEL_SRTP_ENCRYPTION: u8 = 0x00;
const LABEL_SRTP_SALT: u8 = 0x02;

/// Rollover and replay state of one SSRC.
#[derive(Debug, Clone)]
struct Stream {
    ssrc: u32,
    /// Highest packet index (ROC << 16 | SEQ) authenticated so far.
    highest: u64,
    /// Bit `i % WINDOW` set: index `i` (within the window) was seen.
    seen: [u64; (WINDOW / 64) as usize],
}

impl Stream {
    fn new(ssrc: u32, seq: u16) -> Self {
        Stream {
            ssrc,
            highest: u64::from(seq),
            seen: [0; (WINDOW / 64) as usize],
        }
    }

    /// RFC 3711 Appendix A: the index a sequence number most likely has.
    fn estimate(&self, seq: u16) -> u64 {
        let roc = self.highest >> 16;
        let s_l = (self.highest & 0xffff) as u16;
        let v = if s_l < 0x8000 {
            if seq > s_l && seq - s_l > 0x8000 {
                roc.wrapping_sub(1)
            } else {
                roc
            }
        } else if s_l - 0x8000 > seq {
            roc + 1
        } else {
            roc
        };
        (v << 16) | u64::from(seq)
    }

    fn bit(index: u64) -> (usize, u64) {
        let slot = index % WINDOW;
        ((slot / 64) as usize, 1u64 << (slot % 64))
    }

    fn is_replay(&self, index: u64) -> bool {
        if index > self.highest {
            return false;
        }
        if self.highest - index >= WINDOW {
            return true;
        }
        let (word, mask) = Self::bit(index);
        self.seen.get(word).is_none_or(|w| w & mask != 0)
    }

    fn accept(&mut self, index: u64) {
        if index > self.highest {
            if index - self.highest >= WINDOW {
                self.seen = [0; (WINDOW / 64) as usize];
            } else {
                for i in self.highest + 1..index {
                    let (word, mask) = Self::bit(i);
                    if let Some(w) = self.seen.get_mut(word) {
                        *w &= !mask;
                    }
                }
            }
            self.highest = index;
        }
        let (word, mask) = Self::bit(index);
        if let Some(w) = self.seen.get_mut(word) {
            *w |= mask;
        }
    }
}

/// One direction of SRTP with AES-GCM.
pub(crate) struct GcmRtp {
    key: LessSafeKey,
    salt: [u8; SALT_LEN],
    streams: Vec<Stream>,
    replay_protection: bool,
}

impl std::fmt::Debug for GcmRtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmRtp")
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

/// RFC 3711 §4.3.3 AES-CM PRF with kdr = 0, as RFC 7714 §11 uses it (with
/// AES-256 for the 256-bit profile, RFC 6188).
fn derive(
    crypto: &dyn RTCCrypto,
    cipher: BlockCipherAlgorithm,
    label: u8,
    master_key: &[u8],
    master_salt: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let keying = |_| Error::SrtpKeying("AES block cipher unavailable for the SRTP KDF".into());
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        let mut block = [0u8; 16];
        for (b, s) in block.iter_mut().zip(master_salt) {
            *b = *s;
        }
        block[7] ^= label;
        block[14..].copy_from_slice(&(i as u16).to_be_bytes());
        crypto
            .block_encrypt(cipher, master_key, &mut block)
            .map_err(keying)?;
        chunk.copy_from_slice(block.get(..chunk.len()).unwrap_or_default());
    }
    Ok(())
}

/// Length of the RTP header (fixed part, CSRCs, extension) or `None`.
pub(crate) fn rtp_header_len(packet: &[u8]) -> Option<usize> {
    let first = *packet.first()?;
    if first >> 6 != 2 {
        return None;
    }
    let mut len = 12 + 4 * usize::from(first & 0x0f);
    if first & 0x10 != 0 {
        let words = packet.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([*words.first()?, *words.get(1)?]));
    }
    (len <= packet.len()).then_some(len)
}

impl GcmRtp {
    pub(crate) fn new(
        crypto: &dyn RTCCrypto,
        master_key: &[u8],
        master_salt: &[u8],
        replay_protection: bool,
    ) -> Result<Self, Error> {
        let (aead, cipher) = match master_key.len() {
            16 => (&AES_128_GCM, BlockCipherAlgorithm::Aes128),
            32 => (&AES_256_GCM, BlockCipherAlgorithm::Aes256),
            _ => {
                return Err(Error::SrtpKeying(
                    "AES-GCM SRTP needs a 16- or 32-byte master key".into(),
                ));
            }
        };
        if master_salt.len() != SALT_LEN {
            return Err(Error::SrtpKeying(
                "AES-GCM SRTP needs a 12-byte master salt".into(),
            ));
        }
        let mut session_key = [0u8; 32];
        let session_key = session_key.get_mut(..master_key.len()).unwrap_or_default();
        let mut salt = [0u8; SALT_LEN];
        derive(
            crypto,
            cipher,
            LABEL_SRTP_ENCRYPTION,
            master_key,
            master_salt,
            session_key,
        )?;
        derive(
            crypto,
            cipher,
            LABEL_SRTP_SALT,
            master_key,
            master_salt,
            &mut salt,
        )?;
        let key = UnboundKey::new(aead, session_key)
            .map_err(|_| Error::SrtpKeying("AES-GCM rejected the session key".into()))?;
        Ok(GcmRtp {
            key: LessSafeKey::new(key),
            salt,
            streams: Vec::new(),
            replay_protection,
        })
    }

    fn nonce(&self, ssrc: u32, index: u64) -> Nonce {
        // RFC 7714 §8.1: 00 00 || SSRC || ROC || SEQ, XOR the session salt.
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..12].copy_from_slice(&index.to_be_bytes()[2..]);
        for (v, s) in iv.iter_mut().zip(self.salt) {
            *v ^= s;
        }
        Nonce::assume_unique_for_key(iv)
    }

    fn stream(&self, ssrc: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.ssrc == ssrc)
    }

    /// Encrypts the RTP packet in `packet` in place and appends the tag.
    /// Encrypts the RTP packet in `packet` where it lies and appends the
    /// tag; `packet` is a `Vec` or a pooled `BytesMut`.
    pub(crate) fn protect<B>(&mut self, packet: &mut B) -> Result<(), Error>
    where
        B: std::ops::DerefMut<Target = [u8]> + for<'a> Extend<&'a u8>,
    {
        let header_len = rtp_header_len(packet).ok_or(Error::PacketMalformed("RTP"))?;
        let (ssrc, seq) = ssrc_seq(packet).ok_or(Error::PacketMalformed("RTP"))?;
        let i = match self.stream(ssrc) {
            Some(i) => i,
            None => {
                self.streams.push(Stream::new(ssrc, seq));
                self.streams.len() - 1
            }
        };
        let Some(stream) = self.streams.get(i) else {
            return Err(Error::PacketMalformed("RTP"));
        };
        let index = stream.estimate(seq);
        if index >> 48 != 0 {
            // RFC 3711 §9.2: 2^48 packets under one key, the session must rekey.
            return Err(Error::SrtpProtect("SRTP index exhausted".into()));
        }
        let nonce = self.nonce(ssrc, index);
        let (header, payload) = packet.split_at_mut(header_len);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(&*header), payload)
            .map_err(|_| Error::SrtpProtect("AES-GCM seal failed".into()))?;
        packet.extend(tag.as_ref());
        if let Some(stream) = self.streams.get_mut(i) {
            stream.accept(index);
        }
        Ok(())
    }

    /// Authenticates and decrypts `packet` in place; returns the length of
    /// the plaintext RTP packet (the tag is left behind it). A new SSRC
    /// gets state only once its first packet authenticated.
    pub(crate) fn unprotect(&mut self, packet: &mut [u8]) -> Result<usize, SrtpDrop> {
        let header_len = rtp_header_len(packet).ok_or(SrtpDrop::Malformed)?;
        let (ssrc, seq) = ssrc_seq(packet).ok_or(SrtpDrop::Malformed)?;
        let body_end = packet
            .len()
            .checked_sub(TAG_LEN)
            .filter(|&e| e >= header_len)
            .ok_or(SrtpDrop::Malformed)?;
        let existing = self.stream(ssrc);
        let index = match existing.and_then(|i| self.streams.get(i)) {
            Some(stream) => {
                let index = stream.estimate(seq);
                if self.replay_protection && stream.is_replay(index) {
                    return Err(SrtpDrop::Replayed);
                }
                index
            }
            None => u64::from(seq),
        };
        let nonce = self.nonce(ssrc, index);
        let (header, rest) = packet.split_at_mut(header_len);
        let (body, tag) = rest.split_at_mut(body_end - header_len);
        let tag: [u8; TAG_LEN] = (&*tag).try_into().map_err(|_| SrtpDrop::Malformed)?;
        self.key
            .open_in_place_separate_tag(nonce, Aad::from(&*header), Tag::from(tag), body, 0..)
            .map_err(|_| SrtpDrop::AuthFailed)?;
        // State only for packets that authenticated.
        match existing {
            Some(i) => {
                if let Some(stream) = self.streams.get_mut(i) {
                    stream.accept(index);
                }
            }
            None => {
                let mut stream = Stream::new(ssrc, seq);
                stream.accept(index);
                self.streams.push(stream);
            }
        }
        Ok(body_end)
    }
}

fn ssrc_seq(packet: &[u8]) -> Option<(u32, u16)> {
    let seq: [u8; 2] = packet.get(2..4)?.try_into().ok()?;
    let ssrc: [u8; 4] = packet.get(8..12)?.try_into().ok()?;
    Some((u32::from_be_bytes(ssrc), u16::from_be_bytes(seq)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn replay_window_accepts_reordering_and_rejects_duplicates_and_ancient() {
        let mut s = Stream::new(1, 100);
        s.accept(100);
        assert!(!s.is_replay(101));
        s.accept(105);
        assert!(!s.is_replay(103));
        s.accept(103);
        assert!(s.is_replay(103) && s.is_replay(105) && s.is_replay(100));
        assert!(!s.is_replay(104));
        s.accept(105 + WINDOW);
        assert!(s.is_replay(105) && s.is_replay(104));
        assert!(!s.is_replay(106 + WINDOW));
        assert!(!s.is_replay(104 + WINDOW));
    }

    #[test]
    fn index_estimate_follows_rollover_both_ways() {
        let mut s = Stream::new(1, 65_530);
        s.accept(65_530);
        assert_eq!(s.estimate(3), (1 << 16) | 3);
        s.accept((1 << 16) | 3);
        assert_eq!(s.estimate(65_534), 65_534);
        assert_eq!(s.estimate(10), (1 << 16) | 10);
    }

    #[test]
    fn header_length_counts_csrcs_and_extension() {
        let mut p = vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7];
        assert_eq!(rtp_header_len(&p), Some(12));
        p[0] = 0x92; // X + 2 CSRCs
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]);
        assert_eq!(rtp_header_len(&p), Some(28));
        assert_eq!(rtp_header_len(&p[..27]), None);
        p[0] = 0x40;
        assert_eq!(rtp_header_len(&p), None);
    }
}
