//! What a responder remembers per subscriber to keep NACKs from becoming a
//! retransmission flood: which packets it was sent lately, and how much
//! retransmission it may still be sent.
//!
//! Every cache hit used to become a retransmission, so one viewer naming
//! the same 17 packets 5 440 times per RTCP compound was sent 5 440
//! packets per compound. Two limits close that, both per subscriber:
//!
//! - **Once per packet per round trip.** A packet retransmitted to a
//!   subscriber is not retransmitted to it again for three quarters of its
//!   RTT (before a full one, the copy already sent cannot have been found
//!   missing; the quarter off absorbs the difference between our estimate
//!   and the subscriber's), at least
//!   [`min_retransmit_interval`](crate::ResponderConfig::min_retransmit_interval),
//!   or for
//!   [`retransmit_interval`](crate::ResponderConfig::retransmit_interval)
//!   while its RTT is unknown. Repeats within one compound or across
//!   compounds collapse into one. mediasoup's `RtpStreamSend` does the
//!   same per consumer, with a 100 ms default RTT.
//! - **A byte budget.** A token bucket that refills by a share of the bytes
//!   the track itself stores (its own bitrate, measured by arrival rather
//!   than configured), up to a burst. Legitimate recovery needs about the
//!   loss rate times the bitrate; the default share, a quarter, leaves
//!   room for 20 % loss with retries, and caps what any subscriber can
//!   extract at a quarter more than the stream it receives, whatever it
//!   asks for.
//!
//! The state is allocated when a subscriber first gets a retransmission
//! (not per packet), reused after it leaves, and bounded by
//! [`ResponderConfig::max_subscribers`](crate::ResponderConfig::max_subscribers).

use std::time::{Duration, Instant};

/// Budget units per byte: tokens are kept in hundredths of a byte, so a
/// refill of `share_percent` of the stream's bytes is exact.
const UNITS_PER_BYTE: u64 = 100;

/// The limits, copied out of the responder's configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Repeats of one packet to one subscriber are refused within this
    /// while its RTT is unknown.
    pub interval: Duration,
    /// The least repeat interval a known RTT can make.
    pub min_interval: Duration,
    /// Refill: this percentage of every byte the track stores.
    pub share_percent: u32,
    /// The budget's ceiling (and a new subscriber's starting budget).
    pub burst_bytes: usize,
    /// Most subscribers with state at once.
    pub max_subscribers: usize,
}

impl Limits {
    fn max_tokens(&self) -> u64 {
        (self.burst_bytes as u64).saturating_mul(UNITS_PER_BYTE)
    }
}

/// Why a retransmission was not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Sent to this subscriber less than the interval ago.
    Repeat,
    /// The subscriber's budget is spent.
    OverBudget,
}

/// One subscriber's retransmission state on one track.
#[derive(Debug)]
struct Subscriber<S> {
    /// `None`: the slot is free, its table kept for the next subscriber.
    id: Option<S>,
    /// Budget left, in [`UNITS_PER_BYTE`] units.
    tokens: u64,
    /// The track's stored-byte count when the budget was last refilled.
    credited: u64,
    /// Repeats of one packet are refused within this many milliseconds.
    interval_ms: u32,
    /// Indexed like the cache ring: the low 32 bits of the extended
    /// sequence number last retransmitted from that slot, and when (in
    /// milliseconds since the table's epoch, plus one: 0 is "never").
    sent: Box<[(u32, u32)]>,
}

/// Per-subscriber retransmission state of one responder.
#[derive(Debug)]
pub(crate) struct Subscribers<S> {
    limits: Limits,
    entries: Vec<Subscriber<S>>,
    /// Index of the last subscriber looked up: a NACK names many packets
    /// for one subscriber, so the linear search runs once per NACK.
    last: usize,
    /// Slots per table (the cache's ring size, a power of two), minus one.
    mask: u64,
    /// Origin of the millisecond stamps; the first instant seen.
    epoch: Option<Instant>,
}

impl<S: Copy + Eq> Subscribers<S> {
    /// No subscribers yet; tables of `slots` entries (a power of two).
    pub fn new(limits: Limits, slots: usize) -> Self {
        Self {
            limits,
            entries: Vec::new(),
            last: 0,
            mask: (slots as u64).saturating_sub(1),
            epoch: None,
        }
    }

    /// Allows or refuses retransmitting the packet `ext` of `size` bytes to
    /// `subscriber` at `now`; `stored_bytes` is the track's stored-byte
    /// count so far. On success the packet counts as sent and its bytes are
    /// spent. `None` when the subscriber has no state and the table is
    /// full.
    pub fn allow(
        &mut self,
        now: Instant,
        subscriber: S,
        ext: u64,
        size: usize,
        stored_bytes: u64,
    ) -> Option<Result<(), Refusal>> {
        let stamp = self.stamp(now);
        let limits = self.limits;
        let mask = self.mask;
        let entry = self.entry(subscriber, stored_bytes)?;
        // Masked below the table length, a usize.
        #[allow(clippy::cast_possible_truncation)]
        let index = (ext & mask) as usize;
        // The low 32 bits name the packet: two numbers that share them are
        // 2^32 packets apart, never both in a cache window.
        #[allow(clippy::cast_possible_truncation)]
        let tag = ext as u32;
        if let Some(&(t, at)) = entry.sent.get(index)
            && t == tag
            && at != 0
            && stamp.wrapping_sub(at) < entry.interval_ms
        {
            return Some(Err(Refusal::Repeat));
        }
        entry.refill(stored_bytes, limits);
        // A packet larger than the whole burst goes when the budget is full,
        // or it could never go at all.
        let cost = (size as u64)
            .saturating_mul(UNITS_PER_BYTE)
            .min(limits.max_tokens());
        if entry.tokens < cost {
            return Some(Err(Refusal::OverBudget));
        }
        entry.tokens -= cost;
        if let Some(slot) = entry.sent.get_mut(index) {
            *slot = (tag, stamp);
        }
        Some(Ok(()))
    }

    /// The round trip to `subscriber` is `rtt`: its repeat interval becomes
    /// three quarters of it, at least the configured minimum. Ignored when
    /// the subscriber has no state and the table is full.
    pub fn set_rtt(&mut self, subscriber: S, rtt: Duration, stored_bytes: u64) {
        let interval = (rtt * 3 / 4).max(self.limits.min_interval);
        if let Some(entry) = self.entry(subscriber, stored_bytes) {
            entry.interval_ms = millis(interval);
        }
    }

    /// Forgets `subscriber` (it left); its table is kept for reuse.
    pub fn remove(&mut self, subscriber: S) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.id == Some(subscriber)) {
            e.id = None;
        }
    }

    /// Milliseconds since the epoch, plus one (wrapping after 49 days: a
    /// stamp is only compared with one at most an interval older).
    fn stamp(&mut self, now: Instant) -> u32 {
        let epoch = *self.epoch.get_or_insert(now);
        // Wrapping is the point.
        #[allow(clippy::cast_possible_truncation)]
        let ms = now.saturating_duration_since(epoch).as_millis() as u32;
        ms.wrapping_add(1).max(1)
    }

    /// The state of `subscriber`, created (with a full budget) if it has
    /// none and there is room.
    fn entry(&mut self, subscriber: S, stored_bytes: u64) -> Option<&mut Subscriber<S>> {
        let found = match self.entries.get(self.last) {
            Some(e) if e.id == Some(subscriber) => Some(self.last),
            _ => self.entries.iter().position(|e| e.id == Some(subscriber)),
        };
        let index = match found {
            Some(i) => i,
            None => self.insert(subscriber, stored_bytes)?,
        };
        self.last = index;
        self.entries.get_mut(index)
    }

    fn insert(&mut self, subscriber: S, stored_bytes: u64) -> Option<usize> {
        let fresh = Subscriber {
            id: Some(subscriber),
            tokens: self.limits.max_tokens(),
            credited: stored_bytes,
            interval_ms: millis(self.limits.interval),
            sent: Box::default(),
        };
        if let Some(i) = self.entries.iter().position(|e| e.id.is_none()) {
            let entry = self.entries.get_mut(i)?;
            let sent = std::mem::take(&mut entry.sent);
            *entry = Subscriber { sent, ..fresh };
            entry.sent.fill((0, 0));
            return Some(i);
        }
        if self.entries.len() >= self.limits.max_subscribers {
            return None;
        }
        // Allocated once per subscriber, on its first retransmission.
        let slots = usize::try_from(self.mask + 1).unwrap_or(0);
        self.entries.push(Subscriber {
            sent: vec![(0, 0); slots].into_boxed_slice(),
            ..fresh
        });
        Some(self.entries.len() - 1)
    }
}

impl<S> Subscriber<S> {
    /// Adds the share of the bytes the track stored since the last refill.
    fn refill(&mut self, stored_bytes: u64, limits: Limits) {
        let new_bytes = stored_bytes.saturating_sub(self.credited);
        self.credited = stored_bytes;
        let refill = new_bytes.saturating_mul(u64::from(limits.share_percent));
        self.tokens = self.tokens.saturating_add(refill).min(limits.max_tokens());
    }
}

/// `d` in whole milliseconds, saturating.
fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}
