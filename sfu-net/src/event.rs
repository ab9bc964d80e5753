//! What the endpoint hands back to its driver: datagrams and events.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::error::Error;
use crate::srtp::SrtpProfile;

/// One datagram to send.
#[derive(Debug, Clone)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// The local address to send from (the one the peer checked).
    pub source: SocketAddr,
    /// The datagram.
    pub contents: Bytes,
}

/// Something that happened to a session, named by the caller's key `K`.
#[derive(Debug)]
#[non_exhaustive]
pub enum EndpointEvent<K> {
    /// DTLS completed, the peer's certificate matched its fingerprint and
    /// SRTP is keyed: media can flow both ways.
    Connected {
        /// The session.
        session: K,
        /// The negotiated SRTP protection profile.
        profile: SrtpProfile,
    },
    /// The path we send on changed: the first valid check, or a nominated
    /// check from a new address (network change).
    PathSelected {
        /// The session.
        session: K,
        /// The peer's address.
        remote: SocketAddr,
        /// Our local address on this path.
        local: SocketAddr,
    },
    /// A decrypted, authenticated RTP packet.
    Rtp {
        /// The session it came from.
        session: K,
        /// The whole RTP packet, header included, payload decrypted.
        packet: Bytes,
    },
    /// A decrypted, authenticated compound RTCP packet.
    Rtcp {
        /// The session it came from.
        session: K,
        /// The compound RTCP packet, without the SRTCP trailer.
        packet: Bytes,
    },
    /// The session is gone; its id is unknown from now on.
    Closed {
        /// The session.
        session: K,
        /// Why.
        reason: CloseReason,
    },
}

/// Why a session closed.
#[derive(Debug)]
#[non_exhaustive]
pub enum CloseReason {
    /// No valid ICE check on the selected path for the consent timeout
    /// (RFC 7675).
    ConsentExpired,
    /// The peer sent a DTLS close_notify alert.
    CloseNotify,
    /// DTLS or SRTP setup failed (for example a fingerprint mismatch).
    Failed(Error),
    /// The application closed it.
    Local,
    /// It never completed an offer/answer exchange in time (a node session).
    NeverNegotiated,
}
