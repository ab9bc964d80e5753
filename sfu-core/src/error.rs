//! The crate's error types. Every variant is something a caller can act on or
//! count; nothing here is ever a panic in disguise.

use thiserror::Error;

use crate::{SessionId, SubscriptionId};

/// Why an RTP packet could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than its own header says.
    #[error("RTP packet truncated")]
    TooShort,
    /// Version field is not 2.
    #[error("RTP version is not 2")]
    BadVersion,
    /// Padding length of zero or longer than the payload.
    #[error("RTP padding length is invalid")]
    BadPadding,
    /// A header extension element runs past the extension block.
    #[error("RTP header extension is malformed")]
    BadExtension,
    /// An RTX packet without room for its original sequence number.
    #[error("RTX payload shorter than its 2-byte OSN")]
    RtxTooShort,
    /// The output buffer cannot hold the rewritten packet.
    #[error("output buffer too small for the RTP packet")]
    BufferTooSmall,
}

/// Everything the router can refuse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// No session with this id (never created, or closed).
    #[error("unknown session {0}")]
    UnknownSession(SessionId),
    /// No subscription with this id.
    #[error("unknown subscription {0}")]
    UnknownSubscription(SubscriptionId),
    /// The session has no published track with this name.
    #[error("session {session} has no track named {name:?}")]
    UnknownTrack {
        /// The publishing session.
        session: SessionId,
        /// The track name asked for.
        name: String,
    },
    /// Track names are unique within a session.
    #[error("session {session} already publishes a track named {name:?}")]
    DuplicateTrackName {
        /// The publishing session.
        session: SessionId,
        /// The name in use.
        name: String,
    },
    /// A session asked to pull one of its own tracks.
    #[error("session {0} cannot pull its own track")]
    PullOwnTrack(SessionId),
    /// A configured limit would be exceeded.
    #[error("limit exceeded: {0}")]
    LimitExceeded(Limit),
    /// The track description is unusable.
    #[error("invalid track: {0}")]
    InvalidTrack(&'static str),
    /// An SSRC is already used by another track or layer of the session.
    #[error("SSRC {0:#010x} is already announced in this session")]
    DuplicateSsrc(u32),
    /// An RTP packet failed to parse.
    #[error("malformed RTP: {0}")]
    Rtp(#[from] RtpError),
    /// An RTP packet arrived for an SSRC the session never announced.
    #[error("RTP for unannounced SSRC {0:#010x}")]
    UnknownSsrc(u32),
    /// The payload type is not one the track negotiated.
    #[error("payload type {0} not negotiated for this track")]
    UnknownPayloadType(u8),
    /// An RTCP compound packet failed to parse.
    #[error("malformed RTCP")]
    Rtcp,
    /// An RTCP packet in a compound claims more entries (transport-cc
    /// statuses or receive deltas, report blocks, sources, SSRCs, SDES
    /// chunks) than its length can hold. Refused before any of it is parsed,
    /// so a short packet cannot make the parser allocate from its count.
    #[error(
        "RTCP packet type {packet_type} (format {format}) claims more entries than its length holds"
    )]
    RtcpCountExceedsLength {
        /// The RTCP packet type (200 SR, 201 RR, 202 SDES, 203 BYE, 205
        /// transport feedback, 206 payload-specific feedback).
        packet_type: u8,
        /// The header's 5-bit count/format field.
        format: u8,
    },
}

/// The limit named by [`Error::LimitExceeded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`crate::Limits::max_sessions`]
    Sessions,
    /// [`crate::Limits::max_tracks_per_session`]
    TracksPerSession,
    /// [`crate::Limits::max_subscriptions_per_session`]
    SubscriptionsPerSession,
    /// [`crate::Limits::max_subscribers_per_track`]
    SubscribersPerTrack,
    /// More than three simulcast layers.
    Layers,
    /// Track name longer than [`crate::Limits::max_track_name_len`].
    TrackNameLength,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::Sessions => "too many sessions",
            Limit::TracksPerSession => "too many tracks in this session",
            Limit::SubscriptionsPerSession => "too many subscriptions in this session",
            Limit::SubscribersPerTrack => "too many subscribers on this track",
            Limit::Layers => "a track has at most 3 simulcast layers",
            Limit::TrackNameLength => "track name too long",
        })
    }
}
