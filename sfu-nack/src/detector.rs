//! The loss detector: finds gaps in one incoming stream and schedules NACKs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::seq::{SeqUnwrapper, extend_near};
use crate::{DetectorStats, Error, NackPair};

/// Most sequence numbers a [`LossDetector`] can track as missing, and the
/// span of its record of received packets: half the 16-bit space.
pub const MAX_TRACKED: usize = 1 << 15;

/// Timing and bounds of a [`LossDetector`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DetectorConfig {
    /// How long a gap may stay open before its first NACK: packets that
    /// arrive this late are taken as reordered, not lost. Zero NACKs on the
    /// first packet after a gap.
    pub reorder_delay: Duration,
    /// Round-trip time assumed until [`LossDetector::set_rtt`] is called.
    pub initial_rtt: Duration,
    /// Floor of the interval between NACKs for the same packet.
    pub min_retry_interval: Duration,
    /// Most NACKs sent for one packet, the first included.
    pub max_nacks_per_packet: u32,
    /// A missing packet this long after its gap was seen is no longer worth
    /// repairing: it is given up.
    pub give_up_after: Duration,
    /// Most packets tracked as missing at once (`1..=32768`); the oldest are
    /// given up to make room, and a jump larger than this is a
    /// discontinuity that is not NACKed at all.
    pub max_missing: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            reorder_delay: Duration::from_millis(5),
            initial_rtt: Duration::from_millis(100),
            min_retry_interval: Duration::from_millis(10),
            max_nacks_per_packet: 10,
            give_up_after: Duration::from_secs(1),
            max_missing: 512,
        }
    }
}

// Fields stay public for reading; new ones may be added, so users start
// from `default()` and chain these setters instead of writing literals.
impl DetectorConfig {
    /// Sets [`DetectorConfig::reorder_delay`].
    pub fn with_reorder_delay(mut self, reorder_delay: Duration) -> Self {
        self.reorder_delay = reorder_delay;
        self
    }

    /// Sets [`DetectorConfig::initial_rtt`].
    pub fn with_initial_rtt(mut self, initial_rtt: Duration) -> Self {
        self.initial_rtt = initial_rtt;
        self
    }

    /// Sets [`DetectorConfig::min_retry_interval`].
    pub fn with_min_retry_interval(mut self, min_retry_interval: Duration) -> Self {
        self.min_retry_interval = min_retry_interval;
        self
    }

    /// Sets [`DetectorConfig::max_nacks_per_packet`].
    pub fn with_max_nacks_per_packet(mut self, max_nacks_per_packet: u32) -> Self {
        self.max_nacks_per_packet = max_nacks_per_packet;
        self
    }

    /// Sets [`DetectorConfig::give_up_after`].
    pub fn with_give_up_after(mut self, give_up_after: Duration) -> Self {
        self.give_up_after = give_up_after;
        self
    }

    /// Sets [`DetectorConfig::max_missing`].
    pub fn with_max_missing(mut self, max_missing: usize) -> Self {
        self.max_missing = max_missing;
        self
    }
}

/// How a packet given to [`LossDetector::handle_packet`] fits the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The first packet of the stream.
    First,
    /// The next packet after the newest one.
    InOrder,
    /// Newer than the next expected: `missing` packets in between are now
    /// tracked as missing.
    Gap {
        /// Sequence numbers skipped.
        missing: u64,
    },
    /// A packet that was missing arrived (original or repair).
    Filled {
        /// A NACK had been sent for it: this is a repair (or a very late
        /// original), not mere reordering.
        after_nack: bool,
    },
    /// Already received; drop it.
    Duplicate,
    /// Never received, but no longer tracked (given up on, or older than the
    /// tracked span).
    Late,
    /// A jump of more than `max_missing` sequence numbers: the stream
    /// restarted or lost too much to repair; nothing is NACKed for the skipped
    /// numbers and the missing set is cleared. A keyframe request is the
    /// usual answer.
    Discontinuity {
        /// Sequence numbers skipped.
        skipped: u64,
    },
}

/// Answer to [`LossDetector::request_repair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepairRequest {
    /// Tracked as missing: a NACK is scheduled (now, if none was sent yet,
    /// since a downstream NACK shows it is lost rather than reordered).
    Pending,
    /// Already received: nothing to ask for.
    AlreadyReceived,
    /// Given up on, or older than the tracked span.
    TooLate,
    /// Newer than anything received: no gap is known there yet.
    NotYetSeen,
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    ext: u64,
    detected_at: Instant,
    next_nack_at: Instant,
    nacks: u32,
}

/// Finds lost packets in one incoming RTP stream and decides when to NACK
/// them.
///
/// Feed every packet of the stream, originals and decoded RTX repairs alike,
/// to [`handle_packet`](Self::handle_packet); then drain
/// [`poll_nack`](Self::poll_nack) and send the entries as one RTCP generic
/// NACK; then wake at [`poll_timeout`](Self::poll_timeout) and call
/// [`handle_timeout`](Self::handle_timeout) (or just `poll_nack` again).
///
/// Only sequence numbers in the missing set are ever NACKed, and a packet
/// leaves that set the moment it arrives, so a received packet is never
/// NACKed. The missing set and the record of received packets are bounded
/// and allocated up front.
///
/// Timers cost nothing while nothing is due: `poll_timeout` is O(1) (the
/// oldest entry's deadline and a kept bound on the next NACK), give-ups
/// pop from the oldest end, and `poll_nack` scans the missing set only
/// when a NACK can be due, once per instant.
#[derive(Debug)]
pub struct LossDetector {
    config: DetectorConfig,
    rtt: Duration,
    unwrapper: SeqUnwrapper,
    /// Sorted by extended sequence number; at most `max_missing` entries.
    missing: VecDeque<Missing>,
    /// Bit per extended sequence number, for the `MAX_TRACKED` numbers up to
    /// the highest: set when received.
    received: Box<[u64]>,
    /// The `poll_nack` scan under way; `None` after a change to the
    /// missing set, so the next call starts over.
    round: Option<Round>,
    /// No entry with NACKs left is due before this (a lower bound, exact
    /// after a completed scan; entries removed since may leave it early).
    /// `None`: none is scheduled.
    nack_due: Option<Instant>,
    stats: DetectorStats,
}

impl LossDetector {
    /// A detector for a stream that has not started yet.
    pub fn new(config: DetectorConfig) -> Result<Self, Error> {
        if config.max_missing == 0 || config.max_missing > MAX_TRACKED {
            return Err(Error::MissingSetOutOfRange {
                requested: config.max_missing,
            });
        }
        Ok(Self {
            config,
            rtt: config.initial_rtt,
            unwrapper: SeqUnwrapper::new(),
            missing: VecDeque::with_capacity(config.max_missing),
            received: vec![0; MAX_TRACKED / 64].into_boxed_slice(),
            round: None,
            nack_due: None,
            stats: DetectorStats::default(),
        })
    }

    /// Records the arrival of packet `seq` (an original, or the original
    /// sequence number of a decoded RTX repair).
    pub fn handle_packet(&mut self, now: Instant, seq: u16) -> Arrival {
        self.stats.packets += 1;
        self.round = None;
        let Some(highest) = self.unwrapper.highest() else {
            let ext = self.unwrapper.extend(seq);
            self.mark_received(ext);
            return Arrival::First;
        };
        let ext = extend_near(highest, seq);
        if ext > highest {
            self.unwrapper.extend(seq);
            self.clear_received(highest + 1, ext);
            self.mark_received(ext);
            let gap = ext - highest - 1;
            if gap == 0 {
                return Arrival::InOrder;
            }
            if gap > self.config.max_missing as u64 {
                self.stats.gave_ups += self.missing.len() as u64;
                self.missing.clear();
                self.nack_due = None;
                self.stats.discontinuities += 1;
                return Arrival::Discontinuity { skipped: gap };
            }
            self.track_missing(now, highest + 1, ext);
            return Arrival::Gap { missing: gap };
        }
        if let Ok(index) = self.missing.binary_search_by_key(&ext, |m| m.ext) {
            let after_nack = self.missing.remove(index).is_some_and(|m| m.nacks > 0);
            self.mark_received(ext);
            if after_nack {
                self.stats.recovered += 1;
            } else {
                self.stats.reordered += 1;
            }
            return Arrival::Filled { after_nack };
        }
        if self.is_received(highest, ext) {
            self.stats.duplicates += 1;
            Arrival::Duplicate
        } else {
            self.stats.late += 1;
            Arrival::Late
        }
    }

    /// Asks for packet `seq` on behalf of a downstream hop that missed it.
    ///
    /// Never adds a NACK the detector would not send anyway; it only brings
    /// the first NACK of a packet still inside its reorder delay forward to
    /// `now`. See [`RepairRequest`].
    pub fn request_repair(&mut self, now: Instant, seq: u16) -> RepairRequest {
        let Some(highest) = self.unwrapper.highest() else {
            return RepairRequest::NotYetSeen;
        };
        let ext = extend_near(highest, seq);
        if ext > highest {
            return RepairRequest::NotYetSeen;
        }
        if let Ok(index) = self.missing.binary_search_by_key(&ext, |m| m.ext) {
            if let Some(entry) = self.missing.get_mut(index)
                && entry.nacks == 0
            {
                entry.next_nack_at = entry.next_nack_at.min(now);
                self.nack_due = Some(self.nack_due.map_or(now, |t| t.min(now)));
                self.round = None;
            }
            return RepairRequest::Pending;
        }
        if self.is_received(highest, ext) {
            RepairRequest::AlreadyReceived
        } else {
            RepairRequest::TooLate
        }
    }

    /// The next NACK entry due at `now`, if any; call until `None` and send
    /// the entries together. Each sequence number returned counts as one
    /// NACK sent and is rescheduled one retry interval later.
    pub fn poll_nack(&mut self, now: Instant) -> Option<NackPair> {
        if self.round.is_none_or(|r| r.now != now) {
            self.give_up_expired(now);
            // Unless something can be due, the round is over before it
            // starts: no scan.
            let full = self.nack_due.is_some_and(|t| t <= now);
            let mut round = Round {
                now,
                cursor: if full { 0 } else { self.missing.len() },
                next: None,
                full,
            };
            self.seek(&mut round);
            self.round = Some(round);
        }
        let mut round = self.round?;
        let first = round.cursor;
        if first >= self.missing.len() {
            return None;
        }
        let retry_at = later(now, self.retry_interval());
        let max_nacks = self.config.max_nacks_per_packet;
        let mut pair: Option<(u64, NackPair)> = None;
        let mut end = first;
        let mut count = 0u64;
        for entry in self.missing.range_mut(first..) {
            let base = pair.map_or(entry.ext, |(base, _)| base);
            if entry.ext - base > 16 {
                break;
            }
            end += 1;
            if entry.due(now, max_nacks) {
                // Truncation is the point: the wire carries the low 16 bits.
                #[allow(clippy::cast_possible_truncation)]
                let seq = entry.ext as u16;
                match &mut pair {
                    None => pair = Some((entry.ext, NackPair::new(seq))),
                    Some((_, p)) => {
                        p.try_add(seq);
                    }
                }
                entry.nacks += 1;
                entry.next_nack_at = retry_at;
                count += 1;
            }
            if entry.nacks < max_nacks {
                round.fold(entry.next_nack_at);
            }
        }
        round.cursor = end;
        self.seek(&mut round);
        self.round = Some(round);
        self.stats.nacks_sent += count;
        self.stats.nack_pairs_sent += 1;
        pair.map(|(_, p)| p)
    }

    /// Gives up on missing packets past their deadline; returns how many
    /// (for video, a reason to ask for a keyframe).
    pub fn handle_timeout(&mut self, now: Instant) -> u64 {
        let before = self.stats.gave_ups;
        self.give_up_expired(now);
        self.round = None;
        self.stats.gave_ups - before
    }

    /// When a NACK falls due or a missing packet reaches its deadline; `None`
    /// while nothing is missing.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let deadline = self.missing.front().map(|m| self.deadline(m));
        match (self.nack_due, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            // Entries with NACKs left always have a deadline too.
            (_, b) => b,
        }
    }

    /// Updates the round-trip time of this hop (from RTCP SR/RR), which sets
    /// the retry interval: `max(rtt * 5/4, min_retry_interval)`. Clamped to
    /// `1 ms..=give_up_after`, since it may come from an untrusted report.
    pub fn set_rtt(&mut self, rtt: Duration) {
        let ceiling = self.config.give_up_after.max(Duration::from_millis(1));
        self.rtt = rtt.clamp(Duration::from_millis(1), ceiling);
    }

    /// The round-trip time in use.
    pub const fn rtt(&self) -> Duration {
        self.rtt
    }

    /// Time between NACKs for the same packet: a round trip and a quarter,
    /// so a repair that is merely late is not asked for twice.
    pub fn retry_interval(&self) -> Duration {
        (self.rtt + self.rtt / 4).max(self.config.min_retry_interval)
    }

    /// Sequence numbers currently tracked as missing.
    pub fn missing_len(&self) -> usize {
        self.missing.len()
    }

    /// True when `seq` is tracked as missing.
    pub fn is_missing(&self, seq: u16) -> bool {
        self.unwrapper
            .peek(seq)
            .is_some_and(|ext| self.missing.binary_search_by_key(&ext, |m| m.ext).is_ok())
    }

    /// Extended sequence number of the newest packet received.
    pub fn highest(&self) -> Option<u64> {
        self.unwrapper.highest()
    }

    /// Counters so far.
    pub const fn stats(&self) -> &DetectorStats {
        &self.stats
    }

    /// Moves `round` to its next due entry, folding the ones it passes into
    /// its bound; at the end of a full round the bound becomes exact.
    fn seek(&mut self, round: &mut Round) {
        let max_nacks = self.config.max_nacks_per_packet;
        let start = round.cursor.min(self.missing.len());
        round.cursor = start;
        for m in self.missing.range(start..) {
            if m.due(round.now, max_nacks) {
                return;
            }
            if m.nacks < max_nacks {
                round.fold(m.next_nack_at);
            }
            round.cursor += 1;
        }
        if round.full {
            self.nack_due = round.next;
        }
    }

    fn deadline(&self, m: &Missing) -> Instant {
        later(m.detected_at, self.config.give_up_after)
    }

    /// Entries are appended in sequence order as time moves on, so their
    /// deadlines rise from the front: give-ups pop from there, O(given up).
    fn give_up_expired(&mut self, now: Instant) {
        while let Some(m) = self.missing.front()
            && now >= self.deadline(m)
        {
            self.missing.pop_front();
            self.stats.gave_ups += 1;
        }
        if self.missing.is_empty() {
            self.nack_due = None;
        }
    }

    /// Tracks `from..to` as missing, giving up the oldest entries if the set
    /// would exceed its bound.
    fn track_missing(&mut self, now: Instant, from: u64, to: u64) {
        let first_nack_at = later(now, self.config.reorder_delay);
        self.nack_due = Some(
            self.nack_due
                .map_or(first_nack_at, |t| t.min(first_nack_at)),
        );
        self.stats.losses_seen += to - from;
        for ext in from..to {
            if self.missing.len() >= self.config.max_missing {
                self.missing.pop_front();
                self.stats.gave_ups += 1;
            }
            self.missing.push_back(Missing {
                ext,
                detected_at: now,
                next_nack_at: first_nack_at,
                nacks: 0,
            });
        }
    }

    fn bit(ext: u64) -> (usize, u64) {
        // Both parts are masked below MAX_TRACKED, which fits a usize.
        #[allow(clippy::cast_possible_truncation)]
        let word = ((ext / 64) % (MAX_TRACKED as u64 / 64)) as usize;
        (word, 1 << (ext % 64))
    }

    fn mark_received(&mut self, ext: u64) {
        let (word, bit) = Self::bit(ext);
        if let Some(w) = self.received.get_mut(word) {
            *w |= bit;
        }
    }

    /// Forgets `from..to` (numbers now re-entering the span as new).
    fn clear_received(&mut self, from: u64, to: u64) {
        if to - from >= MAX_TRACKED as u64 {
            self.received.fill(0);
            return;
        }
        // Whole words where possible: a hostile jump costs at most a few
        // hundred operations, not one per skipped number.
        let mut ext = from;
        while ext < to {
            let (word, bit) = Self::bit(ext);
            let Some(w) = self.received.get_mut(word) else {
                return;
            };
            if ext.is_multiple_of(64) && to - ext >= 64 {
                *w = 0;
                ext += 64;
            } else {
                *w &= !bit;
                ext += 1;
            }
        }
    }

    fn is_received(&self, highest: u64, ext: u64) -> bool {
        if highest - ext >= MAX_TRACKED as u64 {
            return false;
        }
        let (word, bit) = Self::bit(ext);
        self.received.get(word).is_some_and(|w| w & bit != 0)
    }
}

/// One pass of [`LossDetector::poll_nack`] over the missing set at one
/// instant.
#[derive(Debug, Clone, Copy)]
struct Round {
    now: Instant,
    /// Where the next call resumes.
    cursor: usize,
    /// The earliest next NACK among the entries passed so far.
    next: Option<Instant>,
    /// The round scans from the start (something may be due), so `next`
    /// is exact at the end; otherwise it was skipped.
    full: bool,
}

impl Round {
    fn fold(&mut self, at: Instant) {
        self.next = Some(self.next.map_or(at, |n| n.min(at)));
    }
}

impl Missing {
    fn due(&self, now: Instant, max_nacks: u32) -> bool {
        self.nacks < max_nacks && self.next_nack_at <= now
    }
}

/// `at + after`, saturating at `at` on the (configuration-only) overflow.
fn later(at: Instant, after: Duration) -> Instant {
    at.checked_add(after).unwrap_or(at)
}
