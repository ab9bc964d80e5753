//! DTLS 1.2 (via `dimpl`), the certificate it presents and the
//! fingerprints both sides announce in SDP (RFC 8122, RFC 5763). The SFU is
//! the server toward every client that offers; toward a third party it
//! offered to, it is the client when the answer says `a=setup:passive`
//! (dimpl's DTLS 1.2 client, `Dtls::set_active`), and the server's
//! certificate is held to the answer's fingerprint the same way.
//!
//! The server chooses the SRTP protection profile from the client's
//! `use_srtp` offer: AEAD_AES_128_GCM, else AEAD_AES_256_GCM, else
//! AES128_CM_HMAC_SHA1_80. dimpl hard-codes that list with 256-GCM first;
//! the workspace patches it (`vendor/README.md`), as nothing outside the
//! engine can change the choice without breaking the handshake transcript.
//!
//! DTLS junk from the session's own path (a forged or broken record,
//! during or after the handshake) is dropped and counted, never fatal.
//! Records no DTLS 1.2 client sends are screened out before they reach
//! dimpl, whose receive queue holds 30 datagrams and would otherwise fill
//! with them mid-handshake; a datagram dimpl refuses because that queue is
//! full is dropped, the only dimpl error that leaves its state untouched.
//! Every other dimpl error (the peer's fatal alert, the handshake timeout,
//! a Finished that does not verify, ...) still ends the session, as do a
//! fingerprint mismatch and a handshake without an SRTP profile. As a
//! client the screen (which knows only what clients send) is not used:
//! records from the server's path go to dimpl, which drops malformed or
//! unauthenticated ones (`tests/third_party_dtls_client_survives_junk.rs`);
//! a plaintext fatal alert ends the session on either side.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use dimpl::{Dtls, DtlsCertificate, Output};
use ring::digest;

use crate::error::Error;
use crate::srtp::SrtpProfile;

pub mod screen;

use screen::Screen;

/// SHA-256 certificate fingerprint, as in `a=fingerprint:sha-256 AB:CD:…`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The SHA-256 fingerprint of a DER certificate.
    pub fn of_der(certificate_der: &[u8]) -> Self {
        let d = digest::digest(&digest::SHA256, certificate_der);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Fingerprint(out)
    }

    /// Parses the two fields of an `a=fingerprint` line: the hash function
    /// (only `sha-256`, case-insensitive) and the colon-separated hex value.
    pub fn from_sdp(hash_function: &str, value: &str) -> Result<Self, Error> {
        if !hash_function.eq_ignore_ascii_case("sha-256") {
            return Err(Error::FingerprintMalformed("hash function is not sha-256"));
        }
        let mut out = [0u8; 32];
        let mut parts = value.trim().split(':');
        for byte in out.iter_mut() {
            let part = parts
                .next()
                .ok_or(Error::FingerprintMalformed("fewer than 32 bytes"))?;
            if part.len() != 2 {
                return Err(Error::FingerprintMalformed("byte is not two hex digits"));
            }
            *byte =
                u8::from_str_radix(part, 16).map_err(|_| Error::FingerprintMalformed("not hex"))?;
        }
        if parts.next().is_some() {
            return Err(Error::FingerprintMalformed("more than 32 bytes"));
        }
        Ok(Fingerprint(out))
    }

    /// The raw 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The value part of `a=fingerprint`: `AB:CD:…` (upper-case hex).
    pub fn sdp_value(&self) -> String {
        let mut s = String::with_capacity(32 * 3);
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(':');
            }
            s.push_str(&format!("{b:02X}"));
        }
        s
    }
}

/// Formats as the whole attribute value: `sha-256 AB:CD:…`.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha-256 {}", self.sdp_value())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Parses `sha-256 AB:CD:…` (the `a=fingerprint` value).
impl FromStr for Fingerprint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let (hash, value) = s.trim().split_once(' ').ok_or(Error::FingerprintMalformed(
            "no space between hash function and value",
        ))?;
        Fingerprint::from_sdp(hash, value)
    }
}

/// The DTLS certificate the SFU presents: ECDSA P-256, self-signed.
#[derive(Clone)]
pub struct Certificate {
    dtls: DtlsCertificate,
    fingerprint: Fingerprint,
}

impl Certificate {
    /// Generates a fresh self-signed ECDSA P-256 certificate. Call once at
    /// start; the key comes from the operating system's random source (the
    /// one place this crate draws randomness itself, at setup, not per packet).
    pub fn generate() -> Result<Self, Error> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| Error::Certificate(e.to_string()))?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| Error::Certificate(e.to_string()))?;
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, "sfu");
        params.distinguished_name = name;
        // Firefox rejects two certificates with the same issuer and serial,
        // even across processes: use a random serial.
        let mut serial = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial)
            .map_err(|_| Error::Certificate("no system randomness".into()))?;
        serial[0] &= 0x7f;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let cert = params
            .self_signed(&key)
            .map_err(|e| Error::Certificate(e.to_string()))?;
        Self::from_der(cert.der().to_vec(), key.serialize_der())
    }

    /// Uses a supplied certificate (DER) and its PKCS#8 private key (DER,
    /// ECDSA P-256 or P-384).
    pub fn from_der(certificate: Vec<u8>, private_key_pkcs8: Vec<u8>) -> Result<Self, Error> {
        if certificate.is_empty() || private_key_pkcs8.is_empty() {
            return Err(Error::Certificate("empty certificate or key".into()));
        }
        let fingerprint = Fingerprint::of_der(&certificate);
        Ok(Certificate {
            dtls: DtlsCertificate {
                certificate,
                private_key: private_key_pkcs8,
            },
            fingerprint,
        })
    }

    /// The fingerprint to put in every SDP answer and offer.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// The certificate in DER form.
    pub fn certificate_der(&self) -> &[u8] {
        &self.dtls.certificate
    }

    pub(crate) fn dimpl(&self) -> &DtlsCertificate {
        &self.dtls
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// What one drain of the DTLS engine produced besides datagrams.
#[derive(Debug, Default)]
pub(crate) struct DtlsProgress {
    /// The handshake completed and the peer's certificate matched.
    pub connected: bool,
    /// SRTP keying material and the negotiated profile.
    pub keys: Option<(Vec<u8>, SrtpProfile)>,
    /// The peer sent close_notify.
    pub close_notify: bool,
    /// Application data records (data channels are not supported: dropped).
    pub application_data: u64,
    /// Junk records from the peer's path, dropped with the session kept.
    pub records_dropped: u64,
}

/// The DTLS side of one session: the server, or the client once
/// [`DtlsServer::become_client`] was called before the handshake.
pub(crate) struct DtlsServer {
    dtls: Dtls,
    client: bool,
    /// The client sent its ClientHello.
    started: bool,
    expected: Fingerprint,
    peer_verified: bool,
    connected: bool,
    next_timeout: Option<Instant>,
    scratch: Vec<u8>,
    /// Keeps junk from the peer's path out of dimpl.
    screen: Screen,
}

impl fmt::Debug for DtlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DtlsServer")
            .field("expected", &self.expected)
            .field("peer_verified", &self.peer_verified)
            .field("connected", &self.connected)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl DtlsServer {
    pub(crate) fn new(
        now: Instant,
        config: Arc<dimpl::Config>,
        certificate: &Certificate,
        expected: Fingerprint,
    ) -> Self {
        DtlsServer {
            dtls: Dtls::new_12(config, certificate.dimpl().clone(), now),
            client: false,
            started: false,
            expected,
            peer_verified: false,
            connected: false,
            next_timeout: None,
            scratch: vec![0; 2048],
            screen: Screen::default(),
        }
    }

    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.next_timeout
    }

    /// Takes the client role (before any datagram was handled); the
    /// handshake starts with [`DtlsServer::start`].
    pub(crate) fn become_client(&mut self) {
        if !self.started && !self.connected {
            self.dtls.set_active(true);
            self.client = true;
        }
    }

    /// Whether this side is the DTLS client.
    pub(crate) fn is_client(&self) -> bool {
        self.client
    }

    /// As the client, sends the ClientHello (once, when ICE selected the
    /// path it goes on); as the server, does nothing.
    pub(crate) fn start(
        &mut self,
        now: Instant,
        transmit: &mut impl FnMut(&[u8]),
    ) -> Result<DtlsProgress, Error> {
        if !self.client || self.started {
            return Ok(DtlsProgress::default());
        }
        self.started = true;
        self.handle_timeout(now, transmit)
    }

    pub(crate) fn handle_packet(
        &mut self,
        now: Instant,
        packet: &[u8],
        transmit: &mut impl FnMut(&[u8]),
    ) -> Result<DtlsProgress, Error> {
        // dimpl keeps a logical clock: refresh it before every input.
        if self.client && !self.started {
            // Nothing from the server can come before our ClientHello.
            return Ok(DtlsProgress {
                records_dropped: 1,
                ..DtlsProgress::default()
            });
        }
        self.dtls.handle_timeout(now).map_err(dtls_error)?;
        if self.client {
            match self.dtls.handle_packet(packet) {
                Ok(()) => {}
                Err(dimpl::Error::ReceiveQueueFull) => {
                    let mut progress = self.drain(transmit)?;
                    progress.records_dropped += 1;
                    return Ok(progress);
                }
                Err(e) => return Err(dtls_error(e)),
            }
            return self.drain(transmit);
        }
        let screened = self.screen.screen(packet, self.connected);
        let mut records_dropped = screened.dropped;
        if screened.kept > 0 {
            let forwarded = if screened.rebuilt {
                &self.screen.kept[..]
            } else {
                packet
            };
            match self.dtls.handle_packet(forwarded) {
                Ok(()) => {}
                // The whole datagram was refused before dimpl looked
                // further: its records are dropped, the engine is as before.
                Err(dimpl::Error::ReceiveQueueFull) => records_dropped += screened.kept,
                Err(e) => return Err(dtls_error(e)),
            }
        }
        let mut progress = self.drain(transmit)?;
        progress.records_dropped = records_dropped;
        Ok(progress)
    }

    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        transmit: &mut impl FnMut(&[u8]),
    ) -> Result<DtlsProgress, Error> {
        if self.client && !self.started {
            // The client's clock runs only once its handshake started.
            return Ok(DtlsProgress::default());
        }
        self.dtls.handle_timeout(now).map_err(dtls_error)?;
        self.drain(transmit)
    }

    /// Sends close_notify (when connected) and stops the engine.
    pub(crate) fn close(&mut self, transmit: &mut impl FnMut(&[u8])) {
        if self.dtls.close().is_ok() {
            let _ = self.drain(transmit);
        }
    }

    fn drain(&mut self, transmit: &mut impl FnMut(&[u8])) -> Result<DtlsProgress, Error> {
        let mut progress = DtlsProgress::default();
        loop {
            match self.dtls.poll_output(&mut self.scratch) {
                Output::Packet(p) => transmit(p),
                Output::BufferTooSmall { needed } => {
                    // dimpl bounds records by its MTU setting; refuse absurd asks.
                    if needed > 65_536 {
                        return Err(Error::Dtls(format!(
                            "engine asked for a {needed}-byte buffer"
                        )));
                    }
                    self.scratch.resize(needed, 0);
                }
                Output::Timeout(t) => {
                    self.next_timeout = Some(t);
                    break;
                }
                Output::PeerCert(der) => {
                    let actual = Fingerprint::of_der(der);
                    if actual != self.expected {
                        return Err(Error::FingerprintMismatch {
                            expected: self.expected,
                            actual,
                        });
                    }
                    self.peer_verified = true;
                }
                Output::Connected if !self.connected => {
                    self.connected = true;
                    progress.connected = true;
                }
                Output::KeyingMaterial(material, profile) => {
                    let profile = SrtpProfile::from_dimpl(profile).ok_or(Error::NoSrtpProfile)?;
                    progress.keys = Some((material.to_vec(), profile));
                }
                Output::ApplicationData(_) => progress.application_data += 1,
                Output::CloseNotify => progress.close_notify = true,
                _ => {}
            }
        }
        if (progress.connected || progress.keys.is_some()) && !self.peer_verified {
            return Err(Error::NoPeerCertificate);
        }
        if progress.connected && progress.keys.is_none() {
            return Err(Error::NoSrtpProfile);
        }
        Ok(progress)
    }
}

fn dtls_error(e: dimpl::Error) -> Error {
    Error::Dtls(e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_round_trips_through_sdp_text() {
        let fp = Fingerprint::of_der(b"not really a certificate");
        let text = fp.to_string();
        assert!(text.starts_with("sha-256 "));
        assert_eq!(text.len(), "sha-256 ".len() + 32 * 3 - 1);
        assert_eq!(text.parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(
            Fingerprint::from_sdp("SHA-256", &fp.sdp_value().to_lowercase()).unwrap(),
            fp
        );
    }

    #[test]
    fn malformed_fingerprints_are_errors() {
        let good = Fingerprint::of_der(b"x").sdp_value();
        assert!(Fingerprint::from_sdp("sha-1", &good).is_err());
        assert!(Fingerprint::from_sdp("sha-256", &good[3..]).is_err());
        assert!(Fingerprint::from_sdp("sha-256", &format!("{good}:00")).is_err());
        assert!(Fingerprint::from_sdp("sha-256", &good[..good.len() - 1]).is_err());
        assert!("sha-256".parse::<Fingerprint>().is_err());
        assert!(Fingerprint::from_sdp("sha-256", "ZZ").is_err());
    }

    #[test]
    fn generated_certificates_differ_and_match_their_fingerprint() {
        let a = Certificate::generate().unwrap();
        let b = Certificate::generate().unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(*a.fingerprint(), Fingerprint::of_der(a.certificate_der()));
    }
}
