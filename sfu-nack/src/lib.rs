//! `sfu-nack` is the NACK shield of one hop: for each track, a bounded
//! retransmission cache, a loss detector on the incoming leg that emits
//! RFC 4585 generic NACKs on an RTT-based schedule, a responder that answers
//! subscribers' NACKs from the cache (a packet at most once per subscriber
//! per retransmit interval, within a per-subscriber byte budget, so NACKs
//! cannot be turned into a flood) and asks upstream once per missing
//! packet however many subscribers asked, and RTX (RFC 4588) payload
//! encoding both ways. Each SFU node in a cascade runs its own shield, so a
//! loss is repaired on the hop where it happened. It deliberately knows
//! nothing of sessions, sockets, crypto, clocks or the RTP/RTCP wire
//! formats: packets are the caller's type (stored, never parsed), NACK
//! entries are our own [`NackPair`] (the router converts to and from its
//! RTCP library), and RTP header rewriting for RTX is the router's job.
//!
//! # Run-loop contract
//!
//! Everything is sans-IO and deterministic; time is an [`Instant`] argument.
//! Per track and hop, the router:
//!
//! 1. feeds every packet from upstream (originals, and RTX repairs after
//!    [`split_rtx_payload`]) to [`LossDetector::handle_packet`] and, if it
//!    is not a duplicate, to [`Responder::handle_packet`];
//! 2. feeds every sequence number a subscriber NACKs (after
//!    [`unpack_nacks`], mapped into the track's sequence space) to
//!    [`Responder::handle_nack`];
//! 3. drains [`Responder::poll_output`]: `Retransmit` goes to the
//!    subscriber, `RequestUpstream` goes to
//!    [`LossDetector::request_repair`];
//! 4. drains [`LossDetector::poll_nack`] into one RTCP generic NACK upstream;
//! 5. sleeps until the earliest of [`LossDetector::poll_timeout`] and
//!    [`Responder::poll_timeout`], then calls both `handle_timeout`s and
//!    goes back to 3.
//!
//! Skipping a drain delays work but loses nothing up to the documented
//! bounds; past them, work is refused and counted in the statistics, never
//! buffered without limit.
//!
//! [`Instant`]: std::time::Instant

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod budget;
mod cache;
mod detector;
mod error;
mod pair;
mod responder;
mod rtx;
mod seq;
mod stats;

pub use cache::{CacheConfig, CacheInsert, MAX_CACHE_PACKETS, RetransmitCache};
pub use detector::{Arrival, DetectorConfig, LossDetector, MAX_TRACKED, RepairRequest};
pub use error::Error;
pub use pair::{NackPacker, NackPair, pack_nacks, unpack_nacks};
pub use responder::{NackAnswer, Responder, ResponderConfig, ResponderOutput};
pub use rtx::{
    RTX_OSN_LEN, parse_rtx_payload, rtx_payload_len, split_rtx_payload, write_rtx_payload,
};
pub use seq::{SeqUnwrapper, extend_near, seq_is_newer};
pub use stats::{DetectorStats, HopStats, ResponderStats};

impl HopStats {
    /// Collects the counters of one hop: its incoming leg's detector and its
    /// responder (with the responder's cache gauges).
    pub fn collect<S: Copy + Eq, P: Clone>(
        detector: &LossDetector,
        responder: &Responder<S, P>,
    ) -> Self {
        let cache = responder.cache();
        Self {
            detector: *detector.stats(),
            responder: *responder.stats(),
            cache_packets: cache.len(),
            cache_bytes: cache.bytes(),
            cache_bytes_max: cache.bytes_max(),
        }
    }
}
