//! The crate's one error type.

use crate::dtls::Fingerprint;

/// Everything that can go wrong in `sfu-net`, named in protocol terms.
///
/// Errors caused by a single hostile or malformed datagram are not returned
/// from [`Endpoint::handle_datagram`](crate::Endpoint::handle_datagram):
/// such datagrams are dropped and counted in
/// [`EndpointStats`](crate::EndpointStats). The variants here describe
/// failures of a whole session, or misuse of the API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A STUN message could not be parsed.
    #[error("malformed STUN message: {0}")]
    StunMalformed(&'static str),
    /// The certificate the DTLS client presented does not hash to the
    /// fingerprint its SDP offer announced.
    #[error(
        "DTLS certificate fingerprint mismatch: offer announced {expected}, peer presented {actual}"
    )]
    FingerprintMismatch {
        /// The fingerprint from the remote description.
        expected: Fingerprint,
        /// The SHA-256 fingerprint of the certificate the peer sent.
        actual: Fingerprint,
    },
    /// The DTLS handshake completed without the client sending a certificate.
    #[error("DTLS client sent no certificate")]
    NoPeerCertificate,
    /// The DTLS handshake completed without a `use_srtp` profile.
    #[error("DTLS handshake negotiated no SRTP protection profile")]
    NoSrtpProfile,
    /// The DTLS engine failed; the session cannot continue.
    #[error("DTLS failed: {0}")]
    Dtls(String),
    /// The DTLS-SRTP exporter output could not key an SRTP context.
    #[error("SRTP keying failed: {0}")]
    SrtpKeying(String),
    /// Encrypting an outgoing RTP or RTCP packet failed.
    #[error("SRTP protect failed: {0}")]
    SrtpProtect(String),
    /// The certificate could not be generated or loaded.
    #[error("DTLS certificate: {0}")]
    Certificate(String),
    /// A fingerprint string from SDP is not `sha-256` followed by 32
    /// colon-separated hex bytes.
    #[error("malformed certificate fingerprint: {0}")]
    FingerprintMalformed(&'static str),
    /// An outgoing packet is too short or not RTP/RTCP.
    #[error("malformed outgoing {0} packet")]
    PacketMalformed(&'static str),
    /// No session has this id (it never existed or is closed).
    #[error("unknown session")]
    UnknownSession,
    /// Media was sent before the DTLS handshake completed.
    #[error("session is not connected yet")]
    NotConnected,
    /// The endpoint already holds its configured maximum of sessions.
    #[error("session limit reached ({0})")]
    TooManySessions(usize),
    /// Another live session already uses this local ICE ufrag.
    #[error("local ICE ufrag already in use")]
    UfragInUse,
    /// A session may allow at most this many remote SSRCs.
    #[error("remote SSRC limit reached ({0})")]
    TooManySsrcs(usize),
    /// The transmit queue is full: the caller is not draining `poll_transmit`.
    #[error("transmit queue full ({0} datagrams)")]
    TransmitQueueFull(usize),
}
