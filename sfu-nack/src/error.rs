//! The crate's one error type.

/// What went wrong, in protocol terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An RTX payload (RFC 4588 §4) is shorter than the 2-byte original
    /// sequence number it must start with.
    #[error("RTX payload of {len} bytes is shorter than its 2-byte original sequence number")]
    RtxPayloadTooShort {
        /// Length of the payload that was received.
        len: usize,
    },
    /// The caller's buffer cannot hold the RTX payload being written.
    #[error("RTX payload needs {needed} bytes but the buffer has room for {available}")]
    RtxBufferTooSmall {
        /// Bytes the RTX payload needs (2 + original payload length).
        needed: usize,
        /// Bytes the buffer can still take.
        available: usize,
    },
    /// A retransmission cache (or responder) was configured with a packet
    /// count outside `1..=32768`: beyond half the 16-bit sequence space a
    /// wire sequence number no longer names one packet unambiguously.
    #[error("retransmission cache capacity {requested} is outside 1..=32768 packets")]
    CacheCapacityOutOfRange {
        /// The capacity that was asked for.
        requested: usize,
    },
    /// A loss detector was configured to track no missing packets at all,
    /// or more than half the 16-bit sequence space.
    #[error("loss detector missing-set bound {requested} is outside 1..=32768 packets")]
    MissingSetOutOfRange {
        /// The bound that was asked for.
        requested: usize,
    },
}
