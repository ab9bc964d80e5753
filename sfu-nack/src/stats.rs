//! Counters per hop, for operators and for the simulator's figures.

/// What a [`LossDetector`](crate::LossDetector) saw on one incoming stream.
///
/// Sequence-number counts, not RTCP packet counts, unless the name says
/// pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectorStats {
    /// Packets handed to the detector (originals and repairs).
    pub packets: u64,
    /// Packets already received (or already given up on), dropped.
    pub duplicates: u64,
    /// Distinct sequence numbers found missing.
    pub losses_seen: u64,
    /// Packets never received but no longer tracked when they came (given
    /// up on, or older than the tracked span).
    pub late: u64,
    /// Missing packets that arrived before any NACK was sent for them:
    /// reordering, not loss.
    pub reordered: u64,
    /// Missing packets that arrived after a NACK: repaired.
    pub recovered: u64,
    /// Sequence numbers requested in NACKs, retries included.
    pub nacks_sent: u64,
    /// Generic NACK entries (PID/BLP pairs) emitted.
    pub nack_pairs_sent: u64,
    /// Missing packets abandoned: past their deadline, or pushed out of the
    /// bounded missing set.
    pub gave_ups: u64,
    /// Sequence jumps too large to repair (stream restart or massive loss);
    /// nothing was NACKed for them.
    pub discontinuities: u64,
}

/// What a [`Responder`](crate::Responder) did for one track's subscribers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponderStats {
    /// Sequence numbers requested by subscribers' NACKs.
    pub nacks_received: u64,
    /// Requests answered from the cache with a retransmission.
    pub cache_hits: u64,
    /// Bytes of those retransmissions (as sized at insert).
    pub cache_hit_bytes: u64,
    /// Requests for a cached packet already retransmitted to the same
    /// subscriber within the retransmit interval (repeats in one compound
    /// or across compounds), refused: the copy already sent answers them.
    pub repeats_suppressed: u64,
    /// Requests for a cached packet refused because the subscriber's
    /// retransmission budget was spent.
    pub budget_refused: u64,
    /// Requests for packets the cache does not hold (not yet repaired, or
    /// too old).
    pub cache_misses: u64,
    /// Distinct sequence numbers asked of the upstream hop (one per missing
    /// packet, however many subscribers wanted it).
    pub upstream_requests: u64,
    /// Retransmissions handed out: cache hits plus repairs fanned out to
    /// waiting subscribers.
    pub repairs_sent: u64,
    /// Waiting requests dropped because no repair came in time.
    pub waiters_expired: u64,
    /// Requests refused by a bound (too many waiters on one packet, the
    /// output queue full, or too many subscribers with retransmission
    /// state); the subscriber's next NACK retries them.
    pub requests_dropped: u64,
    /// Requests for sequence numbers never forwarded (ahead of the newest),
    /// ignored.
    pub nacks_ignored: u64,
}

/// Loss-recovery counters of one hop (one track on one node), with the
/// retransmission cache's byte gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HopStats {
    /// The incoming leg's loss detector.
    pub detector: DetectorStats,
    /// The outgoing legs' responder.
    pub responder: ResponderStats,
    /// Packets in the retransmission cache now.
    pub cache_packets: usize,
    /// Bytes in the retransmission cache now.
    pub cache_bytes: usize,
    /// The most bytes the cache has held at once.
    pub cache_bytes_max: usize,
}

impl HopStats {
    /// Adds `other` into `self`, to total several tracks or nodes.
    ///
    /// Counters and current gauges add up. `cache_bytes_max` adds too, so a
    /// total over several caches is an upper bound on their combined peak
    /// (their peaks need not coincide).
    pub fn merge(&mut self, other: &HopStats) {
        let d = &mut self.detector;
        let o = &other.detector;
        d.packets += o.packets;
        d.duplicates += o.duplicates;
        d.losses_seen += o.losses_seen;
        d.late += o.late;
        d.reordered += o.reordered;
        d.recovered += o.recovered;
        d.nacks_sent += o.nacks_sent;
        d.nack_pairs_sent += o.nack_pairs_sent;
        d.gave_ups += o.gave_ups;
        d.discontinuities += o.discontinuities;
        let r = &mut self.responder;
        let o = &other.responder;
        r.nacks_received += o.nacks_received;
        r.cache_hits += o.cache_hits;
        r.cache_hit_bytes += o.cache_hit_bytes;
        r.repeats_suppressed += o.repeats_suppressed;
        r.budget_refused += o.budget_refused;
        r.cache_misses += o.cache_misses;
        r.upstream_requests += o.upstream_requests;
        r.repairs_sent += o.repairs_sent;
        r.waiters_expired += o.waiters_expired;
        r.requests_dropped += o.requests_dropped;
        r.nacks_ignored += o.nacks_ignored;
        self.cache_packets += other.cache_packets;
        self.cache_bytes += other.cache_bytes;
        self.cache_bytes_max += other.cache_bytes_max;
    }
}
