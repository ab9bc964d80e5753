//! The peer's DTLS client (`dimpl`) and the SRTP/SRTCP contexts
//! (`rtc-srtp`) it keys: the server's certificate must match the
//! fingerprint from the SFU's SDP before any key is used.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use rtc_srtp::context::Context;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;

/// The peer's fixed certificate (ECDSA P-256, self-signed, CN=WebRTC): a
/// fixed one keeps the peer deterministic and its fingerprint stable.
const CERTIFICATE_DER: &[u8] = include_bytes!("certificate.der");
/// Its private key (PKCS#8).
const PRIVATE_KEY_DER: &[u8] = include_bytes!("certificate_key.der");

/// At most this many DTLS datagrams wait for the driver.
const MAX_QUEUED: usize = 256;

/// A DTLS-SRTP protection profile (RFC 5764, RFC 7714).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpProfile {
    /// `SRTP_AEAD_AES_128_GCM`.
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM`.
    AeadAes256Gcm,
    /// `SRTP_AES128_CM_HMAC_SHA1_80`.
    Aes128CmHmacSha1_80,
}

impl SrtpProfile {
    fn rtc(self) -> ProtectionProfile {
        match self {
            SrtpProfile::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
            SrtpProfile::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
            SrtpProfile::Aes128CmHmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        }
    }
}

/// The default certificate as `(certificate DER, PKCS#8 key DER)`.
pub(crate) fn default_certificate() -> (Vec<u8>, Vec<u8>) {
    (CERTIFICATE_DER.to_vec(), PRIVATE_KEY_DER.to_vec())
}

/// A fresh random certificate made with rcgen (ring's OS randomness).
pub(crate) fn generated_certificate() -> Option<(Vec<u8>, Vec<u8>)> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).ok()?;
    let cert = rcgen::CertificateParams::new(vec!["WebRTC".to_owned()])
        .ok()?
        .self_signed(&key)
        .ok()?;
    Some((cert.der().to_vec(), key.serialize_der()))
}

/// SHA-256 of a DER certificate.
pub(crate) fn fingerprint(der: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// `AA:BB:...` as SDP writes a fingerprint.
pub(crate) fn fingerprint_text(fp: &[u8; 32]) -> String {
    fp.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Both SRTP directions.
pub(crate) struct Srtp {
    pub profile: SrtpProfile,
    pub tx: Context,
    pub rx: Context,
}

impl Srtp {
    /// Keys from exporter output laid out client key, server key, client
    /// salt, server salt (RFC 5764 §4.2); the client half is ours.
    fn new(material: &[u8], profile: SrtpProfile) -> Result<Self, String> {
        let p = profile.rtc();
        let (k, s) = (p.key_len(), p.salt_len());
        let part = |r: std::ops::Range<usize>| material.get(r).ok_or("short keying material");
        let client_key = part(0..k)?;
        let server_key = part(k..2 * k)?;
        let client_salt = part(2 * k..2 * k + s)?;
        let server_salt = part(2 * k + s..2 * k + 2 * s)?;
        let provider = rtc_stun::crypto::default_provider().map_err(|e| e.to_string())?;
        let tx = Context::new(client_key, client_salt, p, None, None, provider.crypto())
            .map_err(|e| e.to_string())?;
        let rx = Context::new(
            server_key,
            server_salt,
            p,
            Some(srtp_replay_protection(1024)),
            Some(srtcp_replay_protection(128)),
            provider.crypto(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Srtp { profile, tx, rx })
    }
}

/// The DTLS client and what it produced.
pub(crate) struct Security {
    certificate: dimpl::DtlsCertificate,
    config: Arc<dimpl::Config>,
    hybrid: bool,
    dtls: Option<dimpl::Dtls>,
    /// The SFU's fingerprint from its SDP.
    pub expected: Option<[u8; 32]>,
    verified: bool,
    pub srtp: Option<Srtp>,
    /// Why DTLS failed, if it did.
    pub failed: Option<String>,
    pub close_notify_received: bool,
    timeout: Option<Instant>,
    buf: Vec<u8>,
    /// DTLS datagrams to send.
    pub out: VecDeque<Vec<u8>>,
}

impl Security {
    pub(crate) fn new(certificate: (Vec<u8>, Vec<u8>), seed: u64, hybrid: bool) -> Self {
        let config = dimpl::Config::builder()
            .dangerously_set_rng_seed(seed)
            .build()
            .unwrap_or_default();
        Security {
            certificate: dimpl::DtlsCertificate {
                certificate: certificate.0,
                private_key: certificate.1,
            },
            config: Arc::new(config),
            hybrid,
            dtls: None,
            expected: None,
            verified: false,
            srtp: None,
            failed: None,
            close_notify_received: false,
            timeout: None,
            buf: vec![0; 2048],
            out: VecDeque::new(),
        }
    }

    /// The SHA-256 fingerprint of our certificate.
    pub(crate) fn local_fingerprint(&self) -> [u8; 32] {
        fingerprint(&self.certificate.certificate)
    }

    pub(crate) fn started(&self) -> bool {
        self.dtls.is_some() || self.failed.is_some()
    }

    /// Sends the ClientHello.
    pub(crate) fn start(&mut self, now: Instant) {
        if self.started() {
            return;
        }
        let mut dtls = if self.hybrid {
            dimpl::Dtls::new_auto(self.config.clone(), self.certificate.clone(), now)
        } else {
            dimpl::Dtls::new_12(self.config.clone(), self.certificate.clone(), now)
        };
        dtls.set_active(true);
        self.dtls = Some(dtls);
        self.handle_timeout(now);
    }

    fn fail(&mut self, why: String) {
        self.failed.get_or_insert(why);
        self.dtls = None;
        self.timeout = None;
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let Some(dtls) = self.dtls.as_mut() else {
            return;
        };
        if let Err(e) = dtls.handle_timeout(now) {
            self.fail(format!("DTLS: {e}"));
            return;
        }
        self.drain();
    }

    pub(crate) fn handle_packet(&mut self, now: Instant, data: &[u8]) {
        let Some(dtls) = self.dtls.as_mut() else {
            return;
        };
        let result = dtls
            .handle_timeout(now)
            .and_then(|()| dtls.handle_packet(data));
        if let Err(e) = result {
            self.fail(format!("DTLS: {e}"));
            return;
        }
        self.drain();
    }

    /// Sends close_notify; nothing is sent or keyed afterwards.
    pub(crate) fn close(&mut self) {
        if let Some(dtls) = self.dtls.as_mut() {
            let _ = dtls.close();
            self.drain();
        }
        self.dtls = None;
        self.timeout = None;
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        // After the handshake dimpl has nothing to retransmit.
        if self.srtp.is_some() {
            return None;
        }
        self.timeout
    }

    fn drain(&mut self) {
        loop {
            let Some(dtls) = self.dtls.as_mut() else {
                return;
            };
            match dtls.poll_output(&mut self.buf) {
                dimpl::Output::Packet(p) if self.out.len() < MAX_QUEUED => {
                    self.out.push_back(p.to_vec());
                }
                dimpl::Output::Packet(_) => {}
                dimpl::Output::BufferTooSmall { needed } => self.buf.resize(needed, 0),
                dimpl::Output::Timeout(t) => {
                    self.timeout = Some(t);
                    return;
                }
                dimpl::Output::PeerCert(der) => {
                    let got = fingerprint(der);
                    if Some(got) == self.expected {
                        self.verified = true;
                    } else {
                        self.fail(format!(
                            "the SFU's certificate has fingerprint {}, its SDP said {}",
                            fingerprint_text(&got),
                            self.expected
                                .as_ref()
                                .map(fingerprint_text)
                                .unwrap_or_default()
                        ));
                        return;
                    }
                }
                dimpl::Output::KeyingMaterial(km, profile) => {
                    if !self.verified {
                        self.fail("keying material before a verified certificate".into());
                        return;
                    }
                    let profile = match profile {
                        dimpl::SrtpProfile::AEAD_AES_128_GCM => SrtpProfile::AeadAes128Gcm,
                        dimpl::SrtpProfile::AEAD_AES_256_GCM => SrtpProfile::AeadAes256Gcm,
                        _ => SrtpProfile::Aes128CmHmacSha1_80,
                    };
                    match Srtp::new(&km, profile) {
                        Ok(s) => self.srtp = Some(s),
                        Err(e) => {
                            self.fail(format!("SRTP keying: {e}"));
                            return;
                        }
                    }
                }
                dimpl::Output::CloseNotify => self.close_notify_received = true,
                _ => {}
            }
        }
    }
}
