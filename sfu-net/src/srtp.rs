//! SRTP and SRTCP for one session (RFC 3711, RFC 7714), keyed from the
//! DTLS exporter (RFC 5764 §4.2), with replay protection on and an SSRC
//! allow-list in front of the decryptor.
//!
//! `rtc-srtp` creates per-SSRC state (rollover counter, replay window)
//! before it authenticates a packet, so only SSRCs negotiated for the
//! session may reach it; anything else is dropped unread. Sessions whose
//! SSRCs are not all signalled (rid-based simulcast, RTCP from a recvonly
//! client) may opt into learning: a packet from an unknown SSRC is first
//! authenticated by a probe context, and only a packet that verifies adds
//! its SSRC (up to a limit) to the list the real context serves. Forgeries
//! never verify, so learning's cost is bounded per session instead (module
//! `learning`): the probe context is keyed once, and probes come from a
//! token bucket refilled by the caller's clock (the `*_at` methods).
//!
//! RTP under the AES-GCM profiles (what browsers negotiate) takes an
//! in-place path (module `gcm`) that seals and opens the caller's buffer and
//! creates per-SSRC state only after a packet authenticated; it is checked
//! byte for byte against `rtc-srtp`. SRTCP and `AES_CM_128_HMAC_SHA1_80`
//! stay on `rtc-srtp`.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rtc_srtp::context::Context;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;

use crate::error::Error;

mod gcm;
mod learning;

use gcm::GcmRtp;
use learning::Learning;

/// SRTP replay window in packets. Wider than libsrtp's 128 because video
/// bursts reorder on real paths and a false replay verdict loses a packet.
const SRTP_REPLAY_WINDOW: usize = 1024;
/// SRTCP replay window in packets.
const SRTCP_REPLAY_WINDOW: usize = 128;

/// The longest SRTP authentication tag of any profile (AES-GCM's 16
/// bytes): room to leave after a packet protected in place.
pub const MAX_TAG_LEN: usize = 16;

/// A DTLS-SRTP protection profile (RFC 5764, RFC 7714).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SrtpProfile {
    /// `SRTP_AEAD_AES_128_GCM`.
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM`.
    AeadAes256Gcm,
    /// `SRTP_AES128_CM_HMAC_SHA1_80`.
    Aes128CmHmacSha1_80,
}

impl SrtpProfile {
    pub(crate) fn from_dimpl(p: dimpl::SrtpProfile) -> Option<Self> {
        match p {
            dimpl::SrtpProfile::AEAD_AES_128_GCM => Some(SrtpProfile::AeadAes128Gcm),
            dimpl::SrtpProfile::AEAD_AES_256_GCM => Some(SrtpProfile::AeadAes256Gcm),
            dimpl::SrtpProfile::AES128_CM_SHA1_80 => Some(SrtpProfile::Aes128CmHmacSha1_80),
            _ => None,
        }
    }

    fn rtc(self) -> ProtectionProfile {
        match self {
            SrtpProfile::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
            SrtpProfile::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
            SrtpProfile::Aes128CmHmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        }
    }

    /// Bytes of DTLS exporter output this profile needs: two master keys
    /// and two master salts.
    pub fn keying_material_len(self) -> usize {
        let p = self.rtc();
        2 * (p.key_len() + p.salt_len())
    }
}

/// Which side of the DTLS handshake this end was; it decides which half of
/// the exported keying material encrypts and which decrypts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsRole {
    /// The DTLS client (the browser, in front of an SFU).
    Client,
    /// The DTLS server (the SFU).
    Server,
}

/// Why an incoming SRTP or SRTCP packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SrtpDrop {
    /// Too short or not RTP/RTCP version 2.
    #[error("malformed SRTP/SRTCP packet")]
    Malformed,
    /// The SSRC was not negotiated for this session.
    #[error("SSRC {0:#010x} not negotiated")]
    SsrcNotNegotiated(u32),
    /// Inside the replay window and already seen, or older than it.
    #[error("replayed packet")]
    Replayed,
    /// The authentication tag did not verify.
    #[error("authentication failed")]
    AuthFailed,
    /// From an SSRC not yet learned, while the session's budget for
    /// authenticating such packets is spent: dropped before any crypto.
    #[error("SSRC {0:#010x} unknown and the learning budget is spent")]
    LearningBudgetSpent(u32),
}

/// What learning unsignalled SSRCs has cost one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LearningStats {
    /// Packets from unknown SSRCs authenticated on the probe context.
    pub probes: u64,
    /// Probe contexts keyed (each one a full SRTP and SRTCP key derivation).
    pub probe_key_derivations: u64,
    /// Packets from unknown SSRCs dropped unprobed: the budget was spent.
    pub probes_refused: u64,
}

/// Both SRTP directions of one session.
pub struct SrtpSession {
    profile: SrtpProfile,
    rx: Context,
    tx: Context,
    remote_ssrcs: Vec<u32>,
    /// Learning: up to this many SSRCs in total.
    learn_limit: usize,
    /// Learning's probe context and budget.
    learning: Learning,
    /// In-place RTP for the AES-GCM profiles (RTCP stays on `rtc-srtp`).
    gcm: Option<(GcmRtp, GcmRtp)>,
}

impl std::fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpSession")
            .field("profile", &self.profile)
            .field("remote_ssrcs", &self.remote_ssrcs)
            .finish_non_exhaustive()
    }
}

impl SrtpSession {
    /// Keys both directions from DTLS-SRTP exporter output, laid out as
    /// client key, server key, client salt, server salt (RFC 5764 §4.2).
    pub fn from_dtls_keying(
        material: &[u8],
        profile: SrtpProfile,
        role: DtlsRole,
    ) -> Result<Self, Error> {
        let p = profile.rtc();
        let (k, s) = (p.key_len(), p.salt_len());
        if material.len() != 2 * (k + s) {
            return Err(Error::SrtpKeying(format!(
                "{} bytes of keying material, {profile:?} needs {}",
                material.len(),
                2 * (k + s)
            )));
        }
        let short = || Error::SrtpKeying("keying material too short".into());
        let client_key = material.get(..k).ok_or_else(short)?;
        let server_key = material.get(k..2 * k).ok_or_else(short)?;
        let client_salt = material.get(2 * k..2 * k + s).ok_or_else(short)?;
        let server_salt = material.get(2 * k + s..).ok_or_else(short)?;
        let (tx_key, tx_salt, rx_key, rx_salt) = match role {
            DtlsRole::Server => (server_key, server_salt, client_key, client_salt),
            DtlsRole::Client => (client_key, client_salt, server_key, server_salt),
        };
        let provider =
            rtc_crypto::default_provider().map_err(|e| Error::SrtpKeying(e.to_string()))?;
        let keying = |e: rtc_shared::error::Error| Error::SrtpKeying(e.to_string());
        let tx = Context::new(tx_key, tx_salt, p, None, None, provider.crypto()).map_err(keying)?;
        // Replay protection is off by default in rtc-srtp: turn it on.
        let rx = Context::new(
            rx_key,
            rx_salt,
            p,
            Some(srtp_replay_protection(SRTP_REPLAY_WINDOW)),
            Some(srtcp_replay_protection(SRTCP_REPLAY_WINDOW)),
            provider.crypto(),
        )
        .map_err(keying)?;
        let gcm = match profile {
            SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => Some((
                GcmRtp::new(provider.crypto(), rx_key, rx_salt, true)?,
                GcmRtp::new(provider.crypto(), tx_key, tx_salt, false)?,
            )),
            _ => None,
        };
        let mut rx_master = rx_key.to_vec();
        rx_master.extend_from_slice(rx_salt);
        Ok(SrtpSession {
            profile,
            rx,
            tx,
            remote_ssrcs: Vec::new(),
            learn_limit: 0,
            learning: Learning::new(p, rx_master, provider),
            gcm,
        })
    }

    /// Lets authenticated packets from unsignalled SSRCs add their SSRC to
    /// the allow-list, until it holds `limit` SSRCs. Each such packet is
    /// verified on a probe context first, so forged packets create no
    /// state. Through the `*_at` methods probes are budgeted (see
    /// [`SrtpSession::set_learning_budget`]); the others probe every packet.
    pub fn learn_remote_ssrcs(&mut self, limit: usize) {
        self.learn_limit = limit;
    }

    /// Bounds the probes of unknown SSRCs made through the `*_at` methods:
    /// `burst` at once, then `per_second` (0: no more). Past the budget a
    /// packet from an unknown SSRC is dropped before any crypto with
    /// [`SrtpDrop::LearningBudgetSpent`]. Defaults: a burst of 16, then 4
    /// a second — a session's unsignalled SSRCs (rid layers, their RTX, an
    /// RTCP-only SSRC) each need one probe, as their first packet verifies.
    pub fn set_learning_budget(&mut self, burst: u32, per_second: u32) {
        self.learning.set_budget(burst, per_second);
    }

    /// What learning has cost this session so far.
    pub fn learning_stats(&self) -> LearningStats {
        self.learning.stats()
    }

    /// Admits `ssrc` if it is allowed, or if learning is on, the budget at
    /// `now` allows a probe (`None`: no budget), and `probe` (run on the
    /// probe context) authenticates the packet.
    fn admit(
        &mut self,
        now: Option<Instant>,
        ssrc: u32,
        probe: impl FnOnce(&mut Context) -> Result<(), rtc_shared::error::Error>,
    ) -> Result<(), SrtpDrop> {
        if self.remote_ssrcs.contains(&ssrc) {
            return Ok(());
        }
        if self.remote_ssrcs.len() >= self.learn_limit {
            return Err(SrtpDrop::SsrcNotNegotiated(ssrc));
        }
        if !self.learning.may_probe(now) {
            return Err(SrtpDrop::LearningBudgetSpent(ssrc));
        }
        match self.learning.probe(probe) {
            Some(Ok(())) => {
                self.remote_ssrcs.push(ssrc);
                Ok(())
            }
            Some(Err(_)) | None => Err(SrtpDrop::SsrcNotNegotiated(ssrc)),
        }
    }

    /// The negotiated profile.
    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    /// Lets packets from `ssrc` reach the decryptor.
    pub fn allow_remote_ssrc(&mut self, ssrc: u32) {
        if !self.remote_ssrcs.contains(&ssrc) {
            self.remote_ssrcs.push(ssrc);
        }
    }

    /// The SSRCs allowed to reach the decryptor.
    pub fn remote_ssrcs(&self) -> &[u32] {
        &self.remote_ssrcs
    }

    /// Authenticates and decrypts one SRTP packet into a new buffer.
    /// Learning probes are not budgeted: see [`SrtpSession::unprotect_rtp_at`].
    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Result<Bytes, SrtpDrop> {
        self.rtp_owned(None, packet)
    }

    /// [`SrtpSession::unprotect_rtp`] at `now`: learning probes (under
    /// `AES_CM_128_HMAC_SHA1_80`; the AES-GCM path needs none) are spent
    /// from the session's budget.
    pub fn unprotect_rtp_at(&mut self, now: Instant, packet: &[u8]) -> Result<Bytes, SrtpDrop> {
        self.rtp_owned(Some(now), packet)
    }

    /// Authenticates and decrypts one SRTP packet where it lies; returns
    /// the length of the RTP packet now at the start of `packet`. Learning
    /// probes are not budgeted: see [`SrtpSession::unprotect_rtp_in_place_at`].
    pub fn unprotect_rtp_in_place(&mut self, packet: &mut [u8]) -> Result<usize, SrtpDrop> {
        self.rtp_in_place(None, packet)
    }

    /// [`SrtpSession::unprotect_rtp_in_place`] at `now`, with learning
    /// probes spent from the session's budget.
    pub fn unprotect_rtp_in_place_at(
        &mut self,
        now: Instant,
        packet: &mut [u8],
    ) -> Result<usize, SrtpDrop> {
        self.rtp_in_place(Some(now), packet)
    }

    fn rtp_owned(&mut self, now: Option<Instant>, packet: &[u8]) -> Result<Bytes, SrtpDrop> {
        let mut buf = BytesMut::from(packet);
        let len = self.rtp_in_place(now, &mut buf)?;
        buf.truncate(len);
        Ok(buf.freeze())
    }

    fn rtp_in_place(&mut self, now: Option<Instant>, packet: &mut [u8]) -> Result<usize, SrtpDrop> {
        let ssrc = rtp_ssrc(packet).ok_or(SrtpDrop::Malformed)?;
        let known = self.remote_ssrcs.contains(&ssrc);
        if let Some((rx, _)) = &mut self.gcm {
            // The in-place path creates state only after authentication,
            // so learning needs no probe.
            if !known && self.remote_ssrcs.len() >= self.learn_limit {
                return Err(SrtpDrop::SsrcNotNegotiated(ssrc));
            }
            if known {
                return rx.unprotect(packet);
            }
            let len = rx
                .unprotect(packet)
                .map_err(|_| SrtpDrop::SsrcNotNegotiated(ssrc))?;
            self.remote_ssrcs.push(ssrc);
            return Ok(len);
        }
        let copy = packet.to_vec();
        self.admit(now, ssrc, |c| c.decrypt_rtp(&copy).map(drop))?;
        let plain = self.rx.decrypt_rtp(&copy).map_err(drop_reason)?;
        let out = packet.get_mut(..plain.len()).ok_or(SrtpDrop::Malformed)?;
        out.copy_from_slice(&plain);
        Ok(plain.len())
    }

    /// Authenticates and decrypts one SRTCP packet (sender SSRC checked).
    /// Learning probes are not budgeted: see [`SrtpSession::unprotect_rtcp_at`].
    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<Bytes, SrtpDrop> {
        self.rtcp(None, packet)
    }

    /// [`SrtpSession::unprotect_rtcp`] at `now`: a packet from an unknown
    /// SSRC is probed only if the session's learning budget allows it at
    /// `now`, else dropped with [`SrtpDrop::LearningBudgetSpent`] before
    /// any crypto.
    pub fn unprotect_rtcp_at(&mut self, now: Instant, packet: &[u8]) -> Result<Bytes, SrtpDrop> {
        self.rtcp(Some(now), packet)
    }

    fn rtcp(&mut self, now: Option<Instant>, packet: &[u8]) -> Result<Bytes, SrtpDrop> {
        let ssrc = rtcp_sender_ssrc(packet).ok_or(SrtpDrop::Malformed)?;
        self.admit(now, ssrc, |c| c.decrypt_rtcp(packet).map(drop))?;
        self.rx
            .decrypt_rtcp(packet)
            .map(|b| b.freeze())
            .map_err(drop_reason)
    }

    /// Encrypts one RTP packet into a new buffer.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<Bytes, Error> {
        let mut buf = Vec::with_capacity(packet.len() + gcm::TAG_LEN);
        buf.extend_from_slice(packet);
        self.protect_rtp_in_place(&mut buf)?;
        Ok(Bytes::from(buf))
    }

    /// Encrypts the RTP packet in `packet` where it lies and appends the
    /// authentication tag (reserve 16 bytes of capacity to avoid a
    /// reallocation).
    pub fn protect_rtp_in_place(&mut self, packet: &mut Vec<u8>) -> Result<(), Error> {
        rtp_ssrc(packet).ok_or(Error::PacketMalformed("RTP"))?;
        if let Some((_, tx)) = &mut self.gcm {
            return tx.protect(packet);
        }
        let protected = self
            .tx
            .encrypt_rtp(packet)
            .map_err(|e| Error::SrtpProtect(e.to_string()))?;
        packet.clear();
        packet.extend_from_slice(&protected);
        Ok(())
    }

    /// Encrypts one RTP packet into `out` (an empty buffer with room for
    /// the packet and its tag, from the endpoint's pool) and splits it off:
    /// under AES-GCM nothing is allocated.
    pub fn protect_rtp_into(&mut self, packet: &[u8], out: &mut BytesMut) -> Result<Bytes, Error> {
        rtp_ssrc(packet).ok_or(Error::PacketMalformed("RTP"))?;
        out.clear();
        out.extend_from_slice(packet);
        let sealed = match &mut self.gcm {
            Some((_, tx)) => tx.protect(out),
            None => match self.tx.encrypt_rtp(packet) {
                Ok(protected) => {
                    out.clear();
                    out.extend_from_slice(&protected);
                    Ok(())
                }
                Err(e) => Err(Error::SrtpProtect(e.to_string())),
            },
        };
        match sealed {
            Ok(()) => Ok(out.split().freeze()),
            Err(e) => {
                out.clear();
                Err(e)
            }
        }
    }

    /// Encrypts one compound RTCP packet.
    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Result<Bytes, Error> {
        rtcp_sender_ssrc(packet).ok_or(Error::PacketMalformed("RTCP"))?;
        self.tx
            .encrypt_rtcp(packet)
            .map(|b| b.freeze())
            .map_err(|e| Error::SrtpProtect(e.to_string()))
    }
}

fn drop_reason(e: rtc_shared::error::Error) -> SrtpDrop {
    use rtc_shared::error::Error as E;
    match e {
        E::SrtpSsrcDuplicated(..) | E::SrtcpSsrcDuplicated(..) => SrtpDrop::Replayed,
        E::ErrFailedToVerifyAuthTag
        | E::RtpFailedToVerifyAuthTag
        | E::RtcpFailedToVerifyAuthTag => SrtpDrop::AuthFailed,
        _ => SrtpDrop::Malformed,
    }
}

fn be32_at(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(s))
}

/// SSRC of an RTP packet (version 2, at least the 12-byte fixed header).
fn rtp_ssrc(packet: &[u8]) -> Option<u32> {
    if packet.first()? >> 6 != 2 {
        return None;
    }
    be32_at(packet, 8)
}

/// Sender SSRC of the first packet in a compound RTCP packet.
fn rtcp_sender_ssrc(packet: &[u8]) -> Option<u32> {
    if packet.first()? >> 6 != 2 {
        return None;
    }
    be32_at(packet, 4)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
