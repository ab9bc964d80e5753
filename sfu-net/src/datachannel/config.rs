//! The association's bounds and counters.

use super::MAX_MESSAGE_SIZE;

/// The bounds of one association. Private fields with setters, so a new
/// bound is not a breaking change.
#[derive(Debug, Clone)]
pub struct AssociationConfig {
    pub(crate) max_message_size: usize,
    pub(crate) remote_max_message_size: usize,
    pub(crate) max_buffered_per_channel: usize,
    pub(crate) max_channels: usize,
    pub(crate) max_streams: u16,
    pub(crate) max_label_len: usize,
    pub(crate) max_events: usize,
    pub(crate) receive_buffer: u32,
    pub(crate) mtu: u32,
}

/// RFC 8841 section 6: a peer whose SDP has no `a=max-message-size` takes
/// 64 KiB.
pub const DEFAULT_REMOTE_MAX_MESSAGE_SIZE: usize = 65_536;

impl Default for AssociationConfig {
    fn default() -> Self {
        AssociationConfig {
            max_message_size: MAX_MESSAGE_SIZE,
            remote_max_message_size: DEFAULT_REMOTE_MAX_MESSAGE_SIZE,
            max_buffered_per_channel: 1 << 20,
            max_channels: 256,
            // Chromium announces 1024 streams each way (usrsctp's limit there).
            max_streams: 1024,
            max_label_len: 1024,
            max_events: 1024,
            // Four of our largest messages: one can always be reassembled
            // while others wait to be read.
            receive_buffer: 1 << 20,
            // The endpoint's DTLS datagrams are at most 1150 bytes; an
            // AES-GCM record adds 37 to the SCTP packet inside.
            mtu: 1100,
        }
    }
}

impl AssociationConfig {
    /// The largest message we accept, the `a=max-message-size` of our SDP
    /// (default [`MAX_MESSAGE_SIZE`]). A peer that sends a bigger one has
    /// its association closed by the SCTP stack (counted).
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The peer's `a=max-message-size` (0 means no limit, RFC 8841; absent
    /// means [`DEFAULT_REMOTE_MAX_MESSAGE_SIZE`]); [`Association::send`]
    /// refuses bigger messages.
    ///
    /// [`Association::send`]: super::Association::send
    pub fn with_remote_max_message_size(mut self, bytes: usize) -> Self {
        self.remote_max_message_size = if bytes == 0 { usize::MAX } else { bytes };
        self
    }

    /// Bytes one channel may hold unsent or unacknowledged (default 1 MiB);
    /// a send past it is refused with `BufferFull`.
    pub fn with_max_buffered_per_channel(mut self, bytes: usize) -> Self {
        self.max_buffered_per_channel = bytes;
        self
    }

    /// Channels open at once, both directions together (default 256); a
    /// peer's OPEN past it is refused and its stream reset.
    pub fn with_max_channels(mut self, channels: usize) -> Self {
        self.max_channels = channels;
        self
    }

    /// Streams announced in INIT each way (default 1024): stream ids are
    /// below it; DATA on a higher id is dropped before the stack.
    pub fn with_max_streams(mut self, streams: u16) -> Self {
        self.max_streams = streams.max(2);
        self
    }

    /// Bytes of a DCEP label or protocol (default 1024).
    pub fn with_max_label_len(mut self, bytes: usize) -> Self {
        self.max_label_len = bytes.min(usize::from(u16::MAX));
        self
    }

    /// Undrained events held at once (default 1024). Messages are read
    /// from the stack only while there is room, so an application that
    /// stops draining flow-controls the peer rather than growing memory.
    pub fn with_max_events(mut self, events: usize) -> Self {
        self.max_events = events.max(1);
        self
    }

    /// The largest SCTP packet we build (default 1100 bytes, so the DTLS
    /// record around it fits the endpoint's 1150-byte datagrams); at least
    /// 512.
    pub fn with_mtu(mut self, bytes: u32) -> Self {
        self.mtu = bytes.max(512);
        self
    }

    /// The SCTP receive window in bytes (default 1 MiB), all streams
    /// together; it should exceed the max message size.
    pub fn with_receive_buffer(mut self, bytes: u32) -> Self {
        self.receive_buffer = bytes;
        self
    }
}

/// What one association refused or dropped, and what it carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AssociationStats {
    /// SCTP packets handed to the stack.
    pub packets_in: u64,
    /// SCTP packets handed to DTLS.
    pub packets_out: u64,
    /// Packets dropped by the screen: truncated, bad chunk lengths, too
    /// many chunks.
    pub malformed_packets: u64,
    /// Packets dropped for a wrong CRC32c.
    pub bad_checksums: u64,
    /// Packets dropped for DATA on a stream id we did not announce.
    pub stream_out_of_range: u64,
    /// Packets the stack would not route (an INIT when one association is
    /// up, a wrong verification tag).
    pub unroutable_packets: u64,
    /// Packets that arrived after the association closed (dropped).
    pub packets_after_close: u64,
    /// DCEP messages that did not decode, or OPENs on a stream id of our
    /// own parity or an open channel.
    pub malformed_dcep: u64,
    /// OPENs refused by a bound (label length, channel count); their
    /// stream is reset.
    pub refused_opens: u64,
    /// Messages on a stream with no open channel, or with an unknown PPID.
    pub orphan_messages: u64,
    /// Associations closed because the peer sent a message over our
    /// max-message-size or broke the protocol (as the stack saw it).
    pub protocol_closes: u64,
    /// Events dropped because the event queue was full (control events
    /// only: messages wait in the stack instead).
    pub dropped_events: u64,
    /// Messages delivered to the application.
    pub messages_in: u64,
    /// Messages accepted by [`send`](super::Association::send).
    pub messages_out: u64,
    /// Sends refused for a full channel buffer.
    pub refused_sends: u64,
}
