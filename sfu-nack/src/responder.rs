//! The responder: answers subscribers' NACKs for one track, asking upstream
//! once per missing packet however many subscribers want it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::budget::{Limits, Refusal, Subscribers};
use crate::cache::{CacheConfig, CacheInsert, RetransmitCache};
use crate::seq::extend_near;
use crate::{Error, ResponderStats};

/// Bounds of a [`Responder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponderConfig {
    /// The track's retransmission cache.
    pub cache: CacheConfig,
    /// How long subscribers wait for an upstream repair before their request
    /// is dropped (their own NACK retries then ask again).
    pub waiter_timeout: Duration,
    /// Most subscribers waiting on one packet; more are refused and counted.
    pub max_waiters_per_packet: usize,
    /// Most outputs queued between drains; more are refused and counted.
    pub max_queued_outputs: usize,
    /// A packet retransmitted to a subscriber whose RTT is unknown is not
    /// retransmitted to it again within this (counted in
    /// [`ResponderStats::repeats_suppressed`]): a round trip, the least
    /// time after which the copy sent can have been found missing, taken
    /// as 100 ms until [`Responder::set_subscriber_rtt`] tells it. Zero
    /// turns the check off for such subscribers.
    pub retransmit_interval: Duration,
    /// Once a subscriber's RTT is known, repeats are refused for three
    /// quarters of it (the quarter off absorbs the difference between our
    /// estimate and the subscriber's own retry timing), but never for less
    /// than this: 10 ms, so a report claiming a tiny RTT still collapses
    /// the repeats of one RTCP compound.
    pub min_retransmit_interval: Duration,
    /// Each subscriber's retransmission budget refills by this percentage
    /// of the bytes the track stores (its own bitrate); requests beyond it
    /// are refused and counted in [`ResponderStats::budget_refused`].
    /// Legitimate recovery needs about the loss rate; the default, 25,
    /// covers 20 % loss with retries while capping what one subscriber can
    /// make the hop send at a quarter more than the stream itself.
    pub retransmit_share_percent: u32,
    /// Ceiling of each subscriber's budget, in bytes, and what a new one
    /// starts with: room for a burst of losses (64 KiB, about 50 full-size
    /// packets: a lost 720p keyframe) before the share applies.
    pub retransmit_burst_bytes: usize,
    /// Most subscribers with retransmission state (a table of the cache's
    /// size, 8 bytes a slot: 4 KiB with the default cache) at once; further
    /// subscribers' cache hits are refused and counted in
    /// [`ResponderStats::requests_dropped`].
    pub max_subscribers: usize,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        Self {
            cache: CacheConfig::default(),
            waiter_timeout: Duration::from_secs(1),
            max_waiters_per_packet: 1024,
            max_queued_outputs: 4096,
            retransmit_interval: Duration::from_millis(100),
            min_retransmit_interval: Duration::from_millis(10),
            retransmit_share_percent: 25,
            retransmit_burst_bytes: 64 * 1024,
            max_subscribers: 1024,
        }
    }
}

// Fields stay public for reading; new ones may be added, so users start
// from `default()` and chain these setters instead of writing literals.
impl ResponderConfig {
    /// Sets [`ResponderConfig::cache`].
    pub fn with_cache(mut self, cache: CacheConfig) -> Self {
        self.cache = cache;
        self
    }

    /// Sets [`ResponderConfig::waiter_timeout`].
    pub fn with_waiter_timeout(mut self, waiter_timeout: Duration) -> Self {
        self.waiter_timeout = waiter_timeout;
        self
    }

    /// Sets [`ResponderConfig::max_waiters_per_packet`].
    pub fn with_max_waiters_per_packet(mut self, max_waiters_per_packet: usize) -> Self {
        self.max_waiters_per_packet = max_waiters_per_packet;
        self
    }

    /// Sets [`ResponderConfig::max_queued_outputs`].
    pub fn with_max_queued_outputs(mut self, max_queued_outputs: usize) -> Self {
        self.max_queued_outputs = max_queued_outputs;
        self
    }

    /// Sets [`ResponderConfig::retransmit_interval`].
    pub fn with_retransmit_interval(mut self, retransmit_interval: Duration) -> Self {
        self.retransmit_interval = retransmit_interval;
        self
    }

    /// Sets [`ResponderConfig::min_retransmit_interval`].
    pub fn with_min_retransmit_interval(mut self, min_retransmit_interval: Duration) -> Self {
        self.min_retransmit_interval = min_retransmit_interval;
        self
    }

    /// Sets [`ResponderConfig::retransmit_share_percent`].
    pub fn with_retransmit_share_percent(mut self, retransmit_share_percent: u32) -> Self {
        self.retransmit_share_percent = retransmit_share_percent;
        self
    }

    /// Sets [`ResponderConfig::retransmit_burst_bytes`].
    pub fn with_retransmit_burst_bytes(mut self, retransmit_burst_bytes: usize) -> Self {
        self.retransmit_burst_bytes = retransmit_burst_bytes;
        self
    }

    /// Sets [`ResponderConfig::max_subscribers`].
    pub fn with_max_subscribers(mut self, max_subscribers: usize) -> Self {
        self.max_subscribers = max_subscribers;
        self
    }

    fn limits(&self) -> Limits {
        Limits {
            interval: self.retransmit_interval,
            min_interval: self.min_retransmit_interval,
            share_percent: self.retransmit_share_percent,
            burst_bytes: self.retransmit_burst_bytes,
            max_subscribers: self.max_subscribers,
        }
    }
}

/// Something the router must do for the responder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponderOutput<S, P> {
    /// Send `packet` (the track's packet `seq`) again to `subscriber`: as
    /// RTX with the subscriber's own SSRC and payload type if it negotiated
    /// RTX, as a plain retransmission if not.
    Retransmit {
        /// Who asked.
        subscriber: S,
        /// The track's sequence number of the packet.
        seq: u16,
        /// The cached packet.
        packet: P,
    },
    /// Ask the upstream hop for `seq` (hand it to that leg's
    /// [`LossDetector::request_repair`](crate::LossDetector::request_repair),
    /// which folds it into the NACKs it already schedules). Emitted once per
    /// missing packet, however many subscribers asked.
    RequestUpstream {
        /// The track's sequence number of the packet.
        seq: u16,
    },
}

/// How [`Responder::handle_nack`] dealt with one requested packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NackAnswer {
    /// Answered from the cache: a [`ResponderOutput::Retransmit`] is queued.
    Retransmitted,
    /// Cached, but already retransmitted to this subscriber less than
    /// [`ResponderConfig::retransmit_interval`] ago: the copy on its way
    /// answers this request too.
    Suppressed,
    /// Cached, but the subscriber's retransmission budget is spent.
    OverBudget,
    /// Not cached; the subscriber now waits and the packet is asked of the
    /// upstream hop (a [`ResponderOutput::RequestUpstream`] is queued).
    RequestedUpstream,
    /// Not cached; the subscriber joins (or already is among) those waiting
    /// on a request already made upstream.
    Waiting,
    /// Older than the cache window: cannot be repaired here.
    TooOld,
    /// Never forwarded (newer than anything cached): ignored.
    Ignored,
    /// Refused by a bound (waiters on one packet, queued outputs, or
    /// subscribers with retransmission state).
    Dropped,
}

#[derive(Debug)]
struct Pending<S> {
    /// The packet waited for and when the wait ends; `None` when the slot
    /// is free.
    request: Option<(u64, Instant)>,
    waiters: Vec<S>,
}

impl<S> Pending<S> {
    fn waits_for(&self, ext: u64) -> bool {
        self.request.is_some_and(|(e, _)| e == ext)
    }
}

/// Answers NACKs from one track's subscribers out of the track's
/// retransmission cache, with deduplicated requests upstream.
///
/// Sequence numbers here are the track's own (as received from upstream);
/// a router that rewrites sequence numbers per subscriber maps a NACKed
/// number back before calling [`handle_nack`](Self::handle_nack), and maps
/// a [`ResponderOutput::Retransmit`] forward again. `S` names a subscriber
/// (any small copyable id the router chooses); `P` is the cached packet,
/// cloned once per retransmission (a reference-count bump for a
/// `Bytes`-backed packet).
///
/// A hostile subscriber cannot turn NACKs into a flood: a cache hit is
/// retransmitted to a subscriber at most once per round trip (see
/// [`set_subscriber_rtt`](Self::set_subscriber_rtt); 100 ms while
/// unknown), and only while its byte budget (a share of the track's own
/// bitrate, with a burst) lasts; refusals are counted in
/// [`ResponderStats`].
///
/// Run loop: [`handle_packet`](Self::handle_packet) for every packet that
/// arrives from upstream (originals and repairs), `handle_nack` for every
/// sequence number a subscriber asks for, [`handle_timeout`](Self::handle_timeout)
/// at [`poll_timeout`](Self::poll_timeout); drain
/// [`poll_output`](Self::poll_output) after each.
#[derive(Debug)]
pub struct Responder<S, P> {
    config: ResponderConfig,
    cache: RetransmitCache<P>,
    /// Ring parallel to the cache's: one slot per sequence number in the
    /// cache window.
    pending: Box<[Pending<S>]>,
    /// Pending requests in the order they expire (the timeout is constant);
    /// entries already answered are skipped when they come up.
    expiry: VecDeque<(Instant, u64)>,
    outputs: VecDeque<ResponderOutput<S, P>>,
    /// Per-subscriber repeat and budget limits on cache hits.
    subscribers: Subscribers<S>,
    /// Bytes stored so far, the budgets' measure of the track's bitrate.
    stored_bytes: u64,
    stats: ResponderStats,
}

impl<S: Copy + Eq, P: Clone> Responder<S, P> {
    /// A responder with an empty cache, its rings allocated.
    pub fn new(config: ResponderConfig) -> Result<Self, Error> {
        let cache = RetransmitCache::new(config.cache)?;
        let capacity = cache.capacity();
        Ok(Self {
            pending: (0..capacity)
                .map(|_| Pending {
                    request: None,
                    waiters: Vec::new(),
                })
                .collect(),
            expiry: VecDeque::with_capacity(capacity),
            outputs: VecDeque::with_capacity(config.max_queued_outputs.min(64)),
            subscribers: Subscribers::new(config.limits(), capacity),
            stored_bytes: 0,
            cache,
            config,
            stats: ResponderStats::default(),
        })
    }

    /// Stores a packet that arrived from upstream, and queues it for every
    /// subscriber waiting on it. `size` is what the cache's byte gauges count.
    pub fn handle_packet(&mut self, now: Instant, seq: u16, packet: P, size: usize) -> CacheInsert {
        let outcome = self.cache.insert(now, seq, packet, size);
        let CacheInsert::Stored(ext) = outcome else {
            return outcome;
        };
        self.stored_bytes = self.stored_bytes.saturating_add(size as u64);
        let index = self.index(ext);
        let Some(slot) = self.pending.get_mut(index) else {
            return outcome;
        };
        if !slot.waits_for(ext) {
            return outcome;
        }
        slot.request = None;
        let Some(packet) = self.cache.get_extended(now, ext) else {
            slot.waiters.clear();
            return outcome;
        };
        // Waiters skip the per-subscriber limits: each asked once for a
        // packet this hop lacked and gets it once, so this cannot amplify.
        for subscriber in slot.waiters.drain(..) {
            if self.outputs.len() >= self.config.max_queued_outputs {
                self.stats.requests_dropped += 1;
                continue;
            }
            self.outputs.push_back(ResponderOutput::Retransmit {
                subscriber,
                seq,
                packet: packet.clone(),
            });
            self.stats.repairs_sent += 1;
        }
        outcome
    }

    /// Handles one sequence number NACKed by `subscriber`. A cached packet
    /// is retransmitted unless it went to this subscriber within the
    /// retransmit interval or the subscriber's budget is spent; see
    /// [`NackAnswer`].
    pub fn handle_nack(&mut self, now: Instant, subscriber: S, seq: u16) -> NackAnswer {
        self.stats.nacks_received += 1;
        let Some(highest) = self.cache.highest() else {
            self.stats.nacks_ignored += 1;
            return NackAnswer::Ignored;
        };
        let ext = extend_near(highest, seq);
        if ext > highest {
            self.stats.nacks_ignored += 1;
            return NackAnswer::Ignored;
        }
        if self.outputs.len() >= self.config.max_queued_outputs {
            self.stats.requests_dropped += 1;
            return NackAnswer::Dropped;
        }
        if let Some((packet, size)) = self.cache.lookup(now, ext) {
            match self
                .subscribers
                .allow(now, subscriber, ext, size, self.stored_bytes)
            {
                None => {
                    self.stats.requests_dropped += 1;
                    return NackAnswer::Dropped;
                }
                Some(Err(Refusal::Repeat)) => {
                    self.stats.repeats_suppressed += 1;
                    return NackAnswer::Suppressed;
                }
                Some(Err(Refusal::OverBudget)) => {
                    self.stats.budget_refused += 1;
                    return NackAnswer::OverBudget;
                }
                Some(Ok(())) => {}
            }
            self.stats.cache_hits += 1;
            self.stats.cache_hit_bytes += size as u64;
            self.stats.repairs_sent += 1;
            self.outputs.push_back(ResponderOutput::Retransmit {
                subscriber,
                seq,
                packet: packet.clone(),
            });
            return NackAnswer::Retransmitted;
        }
        self.stats.cache_misses += 1;
        if !self.cache.in_window(ext) {
            return NackAnswer::TooOld;
        }
        let index = self.index(ext);
        let max_waiters = self.config.max_waiters_per_packet;
        let Some(slot) = self.pending.get_mut(index) else {
            return NackAnswer::TooOld;
        };
        if slot.waits_for(ext) {
            if slot.waiters.contains(&subscriber) {
                return NackAnswer::Waiting;
            }
            if slot.waiters.len() >= max_waiters {
                self.stats.requests_dropped += 1;
                return NackAnswer::Dropped;
            }
            slot.waiters.push(subscriber);
            return NackAnswer::Waiting;
        }
        // The slot is free, or holds a request for a number that has left
        // the cache window (it could never be stored now): replace it.
        if slot.request.is_some() {
            self.stats.waiters_expired += slot.waiters.len() as u64;
        }
        let expires_at = now.checked_add(self.config.waiter_timeout).unwrap_or(now);
        slot.request = Some((ext, expires_at));
        slot.waiters.clear();
        slot.waiters.push(subscriber);
        if self.expiry.len() >= self.pending.len() {
            self.expire_front();
        }
        self.expiry.push_back((expires_at, ext));
        self.outputs
            .push_back(ResponderOutput::RequestUpstream { seq });
        self.stats.upstream_requests += 1;
        NackAnswer::RequestedUpstream
    }

    /// Drops waiting requests whose repair did not come in time.
    pub fn handle_timeout(&mut self, now: Instant) {
        while self.expiry.front().is_some_and(|&(at, _)| at <= now) {
            self.expire_front();
        }
        self.cache.evict_expired(now);
    }

    /// When the oldest waiting request expires, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiry.front().map(|&(at, _)| at)
    }

    /// The next thing to do, oldest first.
    pub fn poll_output(&mut self) -> Option<ResponderOutput<S, P>> {
        self.outputs.pop_front()
    }

    /// The round trip to `subscriber` (e.g. from its receiver reports) is
    /// `rtt`: from now on a packet is not retransmitted to it again within
    /// three quarters of it (at least
    /// [`ResponderConfig::min_retransmit_interval`]) instead of
    /// [`ResponderConfig::retransmit_interval`]. Ignored when the
    /// subscriber has no retransmission state and the table is full.
    pub fn set_subscriber_rtt(&mut self, subscriber: S, rtt: Duration) {
        self.subscribers.set_rtt(subscriber, rtt, self.stored_bytes);
    }

    /// Forgets `subscriber` everywhere it is waiting, and its
    /// retransmission state (it left).
    pub fn remove_subscriber(&mut self, subscriber: S) {
        self.subscribers.remove(subscriber);
        for &(_, ext) in &self.expiry {
            let index = index_in(&self.pending, ext);
            if let Some(slot) = self.pending.get_mut(index)
                && slot.waits_for(ext)
            {
                slot.waiters.retain(|&s| s != subscriber);
            }
        }
    }

    /// Subscribers waiting on the track's packet `seq`.
    pub fn waiters(&self, seq: u16) -> &[S] {
        let Some(ext) = self.cache.extend(seq) else {
            return &[];
        };
        match self.pending.get(self.index(ext)) {
            Some(slot) if slot.waits_for(ext) => &slot.waiters,
            _ => &[],
        }
    }

    /// The track's retransmission cache.
    pub const fn cache(&self) -> &RetransmitCache<P> {
        &self.cache
    }

    /// Counters so far.
    pub const fn stats(&self) -> &ResponderStats {
        &self.stats
    }

    fn index(&self, ext: u64) -> usize {
        index_in(&self.pending, ext)
    }

    fn expire_front(&mut self) {
        let Some((at, ext)) = self.expiry.pop_front() else {
            return;
        };
        let index = self.index(ext);
        if let Some(slot) = self.pending.get_mut(index)
            && slot.request == Some((ext, at))
        {
            self.stats.waiters_expired += slot.waiters.len() as u64;
            slot.waiters.clear();
            slot.request = None;
        }
    }
}

/// Slot of `ext` in a ring whose length is a power of two.
fn index_in<T>(ring: &[T], ext: u64) -> usize {
    // The mask keeps the value below the ring length, a usize.
    #[allow(clippy::cast_possible_truncation)]
    let index = (ext & (ring.len() as u64).saturating_sub(1)) as usize;
    index
}
