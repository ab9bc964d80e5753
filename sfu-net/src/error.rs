//! The crate's one error type.

use crate::dtls::Fingerprint;

/// Everything that can go wrong in `sfu-net`, named in protocol terms.
///
/// Errors caused by a single hostile or malformed datagram are never
/// returned from `handle_datagram` (of the [`Node`](crate::Node) or the
/// [`Endpoint`](crate::Endpoint)): such datagrams are dropped and counted
/// in [`EndpointStats`](crate::EndpointStats). The variants here describe
/// failures of a whole session or track, refused commands, and the driver.
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
    /// Our connectivity checks toward a peer we offered to found no working
    /// candidate pair: every pair failed, the connect timeout passed, or
    /// the answer had no usable UDP candidate of our address families.
    #[error("ICE failed: no candidate pair of the answer answered our checks")]
    IceFailed,
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
    /// The endpoint already has a session under this key.
    #[error("a session with this key already exists")]
    SessionInUse,
    /// A session may allow at most this many remote SSRCs.
    #[error("remote SSRC limit reached ({0})")]
    TooManySsrcs(usize),
    /// The transmit queue is full: the caller is not draining `poll_transmit`.
    #[error("transmit queue full ({0} datagrams)")]
    TransmitQueueFull(usize),
    /// A session description was refused; the message names why.
    #[error("session description: {0}")]
    Sdp(#[from] crate::sdp::SdpError),
    /// The router refused (limits, duplicate names, unknown tracks...).
    #[error("router: {0}")]
    Router(#[from] sfu_core::Error),
    /// A layer's configuration is out of range (e.g. the NACK shield's).
    #[error("invalid configuration: {0}")]
    InvalidConfig(#[source] sfu_nack::Error),
    /// A setting of the node itself is out of range; the message names it.
    #[error("invalid node configuration: {0}")]
    InvalidNodeConfig(&'static str),
    /// The session has no m-section with this mid (or none that can carry
    /// what was asked).
    #[error("no usable m-section with mid {0:?}")]
    UnknownMid(String),
    /// The m-section already delivers a track.
    #[error("m-section {0:?} already carries a track")]
    SectionBusy(String),
    /// The track is audio and the m-section video, or the reverse.
    #[error("m-section {0:?} is of the other media kind")]
    KindMismatch(String),
    /// The track's codec is not the one negotiated on the m-section.
    #[error("m-section {0:?} negotiated another codec than the track's")]
    FormatMismatch(String),
    /// A pull given with a client offer found no receiving section for it.
    #[error("the offer has no free receiving m-section of the track's kind")]
    NoSectionForPull,
    /// The track is not published (yet) where it was asked for.
    #[error("no published track named {0:?}")]
    TrackNotPublished(String),
    /// A third party's answer sends nothing on the receiving m-section
    /// the node offered for this track (it answered `recvonly`,
    /// `inactive`, or rejected it).
    #[error("the answer sends nothing on m-section {0:?}")]
    SectionNotSending(String),
    /// A track name that is empty or longer than 256 bytes.
    #[error("a track name is 1 to 256 bytes")]
    InvalidTrackName,
    /// A track of this name already exists there.
    #[error("a track named {0:?} already exists")]
    DuplicateTrackName(String),
    /// More tracks than one command or one link may carry.
    #[error("too many tracks (at most {0})")]
    TooManyTracks(usize),
    /// The command needs a client session (SDP), and this one is a relay link.
    #[error("this session is a relay link, not a client")]
    NotAClient,
    /// The command needs a relay link.
    #[error("this session is not a relay link")]
    NotARelay,
    /// The command needs a direct session ([`crate::Node::open_direct`]).
    #[error("this session is not a direct session")]
    NotDirect,
    /// A relay link to this address exists already.
    #[error("a relay link to {0} already exists")]
    RelayExists(std::net::SocketAddr),
    /// The node holds its maximum of relay links.
    #[error("relay link limit reached ({0})")]
    TooManyRelays(usize),
    /// A preferred layer that is not a RID (RFC 8851 characters, bounded).
    #[error("a layer is named by a RID: 1 to 256 letters, digits, '-' or '_'")]
    InvalidRid,
    /// No offer/answer exchange completed, so there is no transport yet.
    #[error("the session has not completed an offer/answer exchange")]
    NotNegotiated,
    /// Both media sockets would be of the same address family.
    #[error("the two media sockets must be of different address families")]
    SameFamily,
    /// A socket could not be opened or configured.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The driver thread is gone or did not answer in time.
    #[error("the driver thread is not running")]
    DriverStopped,
    /// The driver thread's command queue is full: it is running behind
    /// (commands are refused at once rather than queued without bound).
    #[error("the driver thread is busy: its command queue is full, try again later")]
    DriverBusy,
}
