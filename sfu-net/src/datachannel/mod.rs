//! WebRTC data channels (RFC 8831): SCTP over the session's DTLS
//! association, channels opened with DCEP (RFC 8832), and [`Fanout`] of a
//! published channel to its subscribers. Sans-IO like the rest of the
//! crate: SCTP packets and time in, SCTP packets and events out; DTLS
//! application data is the transport, one record per SCTP packet.
//!
//! # Run-loop contract
//!
//! > After every input to an [`Association`] — [`handle_input`],
//! > [`handle_timeout`], [`open_channel`], [`send`], [`close_channel`] —
//! > drain [`poll_event`] and [`poll_transmit`] until both return `None`
//! > (reading events frees receive window, which can make packets), then
//! > call [`handle_timeout`] at [`poll_timeout`].
//!
//! 1. DTLS hands us application data: [`handle_input`] with the record's
//!    payload (one SCTP packet).
//! 2. The deadline passes: [`handle_timeout`].
//! 3. Every packet from [`poll_transmit`] goes to DTLS as one
//!    application-data record.
//! 4. Act on every [`Event`]: a channel opened by either side, a message,
//!    a channel or the association closed.
//!
//! # SDP
//!
//! `m=application 9 UDP/DTLS/SCTP webrtc-datachannel`, `a=sctp-port:`
//! [`SCTP_PORT`], `a=max-message-size:` [`MAX_MESSAGE_SIZE`]; the peer's
//! `a=max-message-size` goes to
//! [`AssociationConfig::with_remote_max_message_size`].
//!
//! # The SCTP stack
//!
//! `sctp-proto` 0.10.8 (what str0m uses) underneath, behind these types.
//! It was measured against `rtc-sctp` 0.21.1, the webrtc-rs crate of the
//! same lineage (`cargo bench --bench datachannel` has ours): `rtc-sctp`
//! moved 10 000 1 KiB messages 2.8x faster (hardware CRC32c), but it
//! walks every TSN a FORWARD-TSN skips (one hostile chunk costs up to 2^31
//! steps), does not enforce a receive-side message size, and lacks
//! `sctp-proto`'s later fixes to TSN wraparound panics and partial
//! reliability. Partial reliability (RFC 3758) carries
//! `maxRetransmits`/`maxPacketLifeTime`.
//!
//! One exception to "no randomness of its own": the stack draws its
//! verification tags, initial TSNs and state cookies from the thread's
//! generator (RFC 9260 wants them unpredictable), so packet bytes differ
//! run to run; what is delivered, and when, does not.
//!
//! [`handle_input`]: Association::handle_input
//! [`handle_timeout`]: Association::handle_timeout
//! [`poll_timeout`]: Association::poll_timeout
//! [`poll_transmit`]: Association::poll_transmit
//! [`poll_event`]: Association::poll_event
//! [`open_channel`]: Association::open_channel
//! [`send`]: Association::send
//! [`close_channel`]: Association::close_channel

mod association;
mod config;
mod dcep;
mod error;
mod fanout;
mod screen;

use bytes::Bytes;

pub use association::Association;
pub use config::{AssociationConfig, AssociationStats, DEFAULT_REMOTE_MAX_MESSAGE_SIZE};
pub use error::{DataChannelError, DcepError};
pub use fanout::{Fanout, FanoutConfig, FanoutStats, Subscriber, SubscriberAction};

/// The SCTP port of every WebRTC association (`a=sctp-port:5000`).
pub const SCTP_PORT: u16 = 5000;
/// The largest message we accept (`a=max-message-size:262144`).
pub const MAX_MESSAGE_SIZE: usize = 262_144;

/// Which side sends the SCTP INIT. Independent of the DTLS role: the SFU
/// is DTLS server, and either side may initiate SCTP (browsers do both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SctpRole {
    /// We send INIT.
    Initiate,
    /// We wait for the peer's INIT.
    Accept,
}

/// A data channel on one association: its SCTP stream id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId(pub(crate) u16);

impl ChannelId {
    /// The SCTP stream id (the W3C `RTCDataChannel.id`).
    pub fn stream_id(self) -> u16 {
        self.0
    }
}

/// How a channel delivers (the W3C `ordered`, `maxRetransmits`,
/// `maxPacketLifeTime`), as DCEP carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reliability {
    /// Every message arrives, retransmitted as long as it takes.
    Reliable {
        /// Delivered in the order sent.
        ordered: bool,
    },
    /// A message is abandoned after this many retransmissions.
    MaxRetransmits {
        /// Retransmissions allowed (0: sent once).
        retransmits: u32,
        /// Delivered in the order sent (among those that arrive).
        ordered: bool,
    },
    /// A message is abandoned this long after it was sent.
    MaxPacketLifeTime {
        /// Its lifetime in milliseconds.
        millis: u32,
        /// Delivered in the order sent (among those that arrive).
        ordered: bool,
    },
}

impl Reliability {
    /// Whether every message is delivered (so a subscriber that cannot keep
    /// up must be closed rather than skipped).
    pub fn is_reliable(self) -> bool {
        matches!(self, Reliability::Reliable { .. })
    }
}

/// Whether a message is a string or binary (the PPID, RFC 8831 section 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text (`send(string)`); not validated here.
    Text,
    /// Binary (`send(ArrayBuffer)`).
    Binary,
}

/// Why the association ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// We closed it.
    LocallyClosed,
    /// The peer shut it down.
    PeerClosed,
    /// The INIT/COOKIE handshake failed.
    HandshakeFailed,
    /// The peer stopped answering.
    TimedOut,
    /// The peer aborted, or sent what the stack would not take (a message
    /// over our max-message-size, a broken chunk).
    ProtocolViolation,
}

/// What an [`Association`] tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The SCTP handshake completed; channels can be opened.
    Connected,
    /// A channel is open: the peer's OPEN arrived (`by_peer`), or the ACK
    /// of ours.
    ChannelOpen {
        /// The channel.
        channel: ChannelId,
        /// Its label (`RTCDataChannel.label`).
        label: String,
        /// Its subprotocol.
        protocol: String,
        /// How it delivers.
        reliability: Reliability,
        /// Opened by the peer's OPEN rather than by [`Association::open_channel`].
        by_peer: bool,
    },
    /// One whole message.
    Message {
        /// The channel it came on.
        channel: ChannelId,
        /// String or binary.
        kind: MessageKind,
        /// Its bytes (empty for the "empty" PPIDs).
        payload: Bytes,
    },
    /// The channel's outgoing buffer drained (`bufferedamountlow`).
    BufferedAmountLow {
        /// The channel.
        channel: ChannelId,
    },
    /// The channel closed (either side reset its stream).
    ChannelClosed {
        /// The channel.
        channel: ChannelId,
    },
    /// The association ended; every open channel had its
    /// [`Event::ChannelClosed`] first.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}
