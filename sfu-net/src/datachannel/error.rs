//! What can go wrong on a data channel, in RFC 8831/8832 terms.

use super::ChannelId;

/// Why a data-channel command was refused. Nothing here closes the
/// association: the caller decides (for [`DataChannelError::BufferFull`],
/// drop the message on an unreliable channel, close a reliable one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataChannelError {
    /// The SCTP association is not established yet (or no longer).
    #[error("the SCTP association is not established")]
    NotConnected,
    /// No open channel has this stream id on this association.
    #[error("no open data channel on stream {0:?}")]
    UnknownChannel(ChannelId),
    /// The message is larger than the smaller of our and the peer's
    /// `a=max-message-size`.
    #[error("message of {len} bytes is over the max-message-size of {limit}")]
    MessageTooLarge {
        /// The message's length.
        len: usize,
        /// The limit it went over.
        limit: usize,
    },
    /// The channel's outgoing buffer would go over its bound.
    #[error(
        "channel {channel:?} has {buffered} bytes buffered; {len} more would pass its bound of {limit}"
    )]
    BufferFull {
        /// The channel.
        channel: ChannelId,
        /// Bytes already waiting to be sent or acknowledged.
        buffered: usize,
        /// The refused message's length.
        len: usize,
        /// The per-channel bound.
        limit: usize,
    },
    /// The association already carries its maximum number of channels, or
    /// every stream id of our parity is taken.
    #[error("no data channel can be opened: {open} of at most {limit} are open")]
    TooManyChannels {
        /// Channels open now.
        open: usize,
        /// The bound.
        limit: usize,
    },
    /// The label or protocol is longer than the configured bound.
    #[error("the DCEP label or protocol is {len} bytes, over the bound of {limit}")]
    LabelTooLong {
        /// Its length in bytes.
        len: usize,
        /// The bound.
        limit: usize,
    },
    /// The SCTP stack refused the operation (a stream being reset, a
    /// closing association).
    #[error("the SCTP stack refused: {0}")]
    Sctp(String),
}

/// Why an incoming DCEP message (RFC 8832) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DcepError {
    /// Shorter than its fixed header or than the lengths it announces.
    #[error("DCEP message truncated")]
    Truncated,
    /// Neither DATA_CHANNEL_OPEN (3) nor DATA_CHANNEL_ACK (2).
    #[error("unknown DCEP message type {0}")]
    UnknownMessageType(u8),
    /// A channel type RFC 8832 section 8.2.2 does not define.
    #[error("unknown DCEP channel type {0:#04x}")]
    UnknownChannelType(u8),
    /// The label or protocol is longer than we accept.
    #[error("DCEP label or protocol of {0} bytes is over the bound")]
    LabelTooLong(usize),
    /// The label or protocol is not UTF-8 (RFC 8832 section 5.1).
    #[error("DCEP label or protocol is not UTF-8")]
    NotUtf8,
}
