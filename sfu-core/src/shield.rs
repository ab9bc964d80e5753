//! The NACK shield: `sfu-nack`'s per-hop loss recovery plugged into the
//! router as its [`LossRecovery`].
//!
//! Per published stream (a layer of a track) the shield runs a
//! [`LossDetector`](sfu_nack::LossDetector) on the publisher leg, which
//! NACKs upstream with retries, and a [`Responder`](sfu_nack::Responder)
//! that owns the stream's [`RetransmitCache`](sfu_nack::RetransmitCache)
//! of parsed packets and answers subscribers' NACKs from it. A packet the
//! cache lacks is asked of the publisher once, however many subscribers
//! want it.
//!
//! # Who delivers a repair
//!
//! A packet this hop never had (a gap on the publisher leg) was never
//! forwarded, so *every* subscriber misses it. When it arrives — as an RTX
//! repair, a plain retransmission or a late original — the router fans it
//! out like any new packet, which delivers it exactly once to every
//! subscriber, waiting or not. The responder's own retransmissions to the
//! waiters of such a packet are therefore discarded (counted as
//! [`ShieldStats::repairs_forwarded`]), or waiters would get it twice. A
//! packet this hop already had (a network duplicate, a second repair) is
//! not fanned out again: [`LossRecovery::on_publisher_packet`] returns
//! `false` for it. A subscriber that lost a packet the hop did forward gets
//! it from the cache as a
//! [`RecoveryAction::Retransmit`](crate::RecoveryAction::Retransmit) (RTX
//! when it negotiated RTX).
//!
//! # Sharing the table, and timers
//!
//! Each stream holds its rings allocated up front, so the table is bounded
//! twice: [`ShieldConfig::max_streams`] in all, and
//! [`ShieldConfig::max_streams_per_session`] per publishing session (the
//! router announces whose each track is with
//! [`LossRecovery::on_track_published`]), so that one client publishing
//! many tracks cannot take every slot and leave the other publishers'
//! losses unrepaired. A refused stream is forwarded as before, unshielded,
//! and counted; a session's slots come back as its tracks close.
//!
//! Each stream keeps its next deadline (the detector's and responder's are
//! O(1) to read) and queues a wake-up in a min-heap when a change moves it
//! earlier, so [`LossRecovery::poll_timeout`] is a peek and
//! [`LossRecovery::handle_timeout`] runs only the streams whose deadline
//! has passed ([`ShieldStats::timer_runs`]), never walking the missing
//! packets of every stream on every driver turn.
//!
//! # Round-trip time
//!
//! The publisher leg's RTT sets the detector's retry interval. The router
//! cannot measure it (a publisher sends no report blocks about media it
//! receives), so the shield measures it itself from NACK → repair round
//! trips. A sample is taken only from a packet NACKed once (Karn's rule: a
//! repair after a retry is ambiguous) that came back as RTX: a plain packet
//! filling the gap may be a late original, which would make the sample far
//! too short. Without RTX upstream, the seed or the detector's
//! `initial_rtt` stays in use. The estimate is the minimum of the last 16
//! samples, not an average: a sample can only be too long
//! (the upstream hop was itself still fetching the packet, or queued it),
//! so the minimum is the hop's own round trip.
//!
//! A retry goes out as soon as the repair of the previous NACK is overdue:
//! one minimum round trip plus twice the samples' mean excess over it (the
//! hop's jitter; at least 1 ms, at most a quarter round trip). The
//! detector's own spacing, a round trip and a quarter, would make a second
//! attempt on an 80 ms hop come too late for a 250 ms playout deadline, so
//! the shield hands the detector `overdue_after × 4/5` as its RTT. An
//! application that knows the RTT (e.g. from ICE consent checks) can seed
//! it with [`Shield::set_rtt`] or [`Shield::set_default_rtt`]; the first
//! measurement replaces the seed.

mod stream;
mod timers;

use std::collections::hash_map::Entry;
use std::time::{Duration, Instant};

use sfu_nack::{Arrival, CacheInsert, DetectorConfig, HopStats, ResponderConfig};

use crate::packet::RtpPacket;
use crate::recovery::{LossRecovery, RecoveryActions, StreamKey};
use crate::{Map, SessionId, SubscriptionId, TrackId};
use stream::StreamShield;
use timers::Timers;

/// A timer whose deadline running it did not move waits at least this
/// long before it runs again (a guard; the detector and responder always
/// move their deadlines past the instant they ran at).
const RETRY_GUARD: Duration = Duration::from_millis(1);

/// Settings of a [`Shield`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShieldConfig {
    /// The publisher leg's loss detector, per stream.
    pub detector: DetectorConfig,
    /// The subscriber legs' responder and its cache, per stream.
    pub responder: ResponderConfig,
    /// Most streams shielded at once; packets of further streams are
    /// forwarded without recovery and counted in
    /// [`ShieldStats::streams_refused`]. Each stream holds its rings
    /// allocated up front: about 160 KiB with the default cache and
    /// detector sizes, plus the cached packets themselves.
    pub max_streams: usize,
    /// Most streams shielded for one publishing session, so that one client
    /// publishing many tracks cannot take the whole table and leave every
    /// other publisher's losses unrepaired; packets of its further streams
    /// are forwarded without recovery and counted in
    /// [`ShieldStats::streams_refused_per_session`]. A publisher sends
    /// audio and up to three simulcast layers of video per camera (RTX
    /// repairs belong to their layer's stream), so the default, 32, covers
    /// several cameras and screen shares. A relay link is one session: raise
    /// this when links carry more streams. Applies to tracks the router
    /// announced with [`LossRecovery::on_track_published`]; others count
    /// against `max_streams` only.
    pub max_streams_per_session: usize,
}

impl Default for ShieldConfig {
    fn default() -> Self {
        Self {
            detector: DetectorConfig::default(),
            responder: ResponderConfig::default(),
            max_streams: 4096,
            max_streams_per_session: 32,
        }
    }
}

// Fields stay public for reading; new ones may be added, so users start
// from `default()` and chain these setters instead of writing literals.
impl ShieldConfig {
    /// Sets [`ShieldConfig::detector`].
    pub fn with_detector(mut self, detector: DetectorConfig) -> Self {
        self.detector = detector;
        self
    }

    /// Sets [`ShieldConfig::responder`].
    pub fn with_responder(mut self, responder: ResponderConfig) -> Self {
        self.responder = responder;
        self
    }

    /// Sets [`ShieldConfig::max_streams`].
    pub fn with_max_streams(mut self, max_streams: usize) -> Self {
        self.max_streams = max_streams;
        self
    }

    /// Sets [`ShieldConfig::max_streams_per_session`].
    pub fn with_max_streams_per_session(mut self, max_streams_per_session: usize) -> Self {
        self.max_streams_per_session = max_streams_per_session;
        self
    }
}

/// Loss-recovery counters of one hop: one stream, or the sum over streams
/// ([`Shield::stats`]). Sequence-number counts unless the name says bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShieldStats {
    /// `sfu-nack`'s counters: the publisher leg's detector (losses seen,
    /// NACKs sent, gave-ups, ...) and the responder (NACKs received, cache
    /// hits and misses, upstream requests, ...), with the cache's bytes.
    /// The responder's `repairs_sent` also counts retransmissions to
    /// waiters that the shield discarded in favour of the fan-out; use
    /// [`ShieldStats::repairs_sent`] for what subscribers were sent.
    /// Retransmissions refused to a subscriber are
    /// `hop.responder.repeats_suppressed` (the packet went to it less than
    /// the responder's `retransmit_interval` ago) and
    /// `hop.responder.budget_refused` (its byte budget was spent).
    pub hop: HopStats,
    /// Retransmissions handed to the router for subscribers (cache hits).
    pub repairs_sent: u64,
    /// Waiting subscribers served by the router's fan-out of a packet this
    /// hop had been missing (instead of a retransmission each).
    pub repairs_forwarded: u64,
    /// Packets this hop already had, not fanned out again.
    pub duplicates_dropped: u64,
    /// NACK → repair round trips measured.
    pub rtt_samples: u64,
    /// Packets of streams beyond [`ShieldConfig::max_streams`].
    pub streams_refused: u64,
    /// Packets of streams refused because their publishing session already
    /// had [`ShieldConfig::max_streams_per_session`] shielded.
    pub streams_refused_per_session: u64,
    /// Times a stream's timers ran (NACK retries, give-ups, expired
    /// waiters): once per stream whose deadline had passed, not once per
    /// stream per [`LossRecovery::handle_timeout`] call.
    pub timer_runs: u64,
}

impl ShieldStats {
    fn merge(&mut self, other: &ShieldStats) {
        self.hop.merge(&other.hop);
        self.repairs_sent += other.repairs_sent;
        self.repairs_forwarded += other.repairs_forwarded;
        self.duplicates_dropped += other.duplicates_dropped;
        self.rtt_samples += other.rtt_samples;
        self.streams_refused += other.streams_refused;
        self.streams_refused_per_session += other.streams_refused_per_session;
        self.timer_runs += other.timer_runs;
    }
}

/// The NACK shield as the router's [`LossRecovery`]: NACKs are answered
/// from a per-stream cache on this hop, and only losses on the publisher
/// leg are NACKed upstream. See the module documentation for the choices.
///
/// ```
/// use sfu_core::{Router, RouterConfig, Shield, ShieldConfig};
///
/// let router = Router::with_loss_recovery(
///     RouterConfig::default(),
///     Shield::new(ShieldConfig::default())?,
/// );
/// assert_eq!(router.loss_recovery().stats().hop.detector.losses_seen, 0);
/// # Ok::<(), sfu_nack::Error>(())
/// ```
#[derive(Debug)]
pub struct Shield {
    config: ShieldConfig,
    default_rtt: Option<Duration>,
    streams: Map<StreamKey, StreamShield>,
    /// The publishing session of each live track, as the router announced
    /// it; as bounded as the router's tracks (entries leave with them).
    track_sessions: Map<TrackId, SessionId>,
    /// Streams shielded per publishing session; sessions with none have
    /// no entry, so at most `max_streams` entries.
    session_streams: Map<SessionId, usize>,
    /// Sessions outside the per-session share: trunks that carry many
    /// publishers' tracks (a cascade's relay link), as the application
    /// names them; as bounded as its sessions (it removes them).
    trunks: Map<SessionId, ()>,
    /// The round trip to each subscription's subscriber, as the router
    /// last measured it; as bounded as the router's subscriptions.
    subscription_rtts: Map<SubscriptionId, Duration>,
    /// When each stream's timers are next due.
    timers: Timers,
    /// Counters of streams that ended, so totals never go backwards.
    retired: ShieldStats,
}

impl Shield {
    /// A shield with no streams yet; fails if `config` is out of the
    /// bounds `sfu-nack` accepts.
    pub fn new(config: ShieldConfig) -> Result<Self, sfu_nack::Error> {
        // Validate once here rather than on a stream's first packet.
        StreamShield::new(&config, None)?;
        Ok(Self {
            config,
            default_rtt: None,
            streams: Map::default(),
            track_sessions: Map::default(),
            session_streams: Map::default(),
            trunks: Map::default(),
            subscription_rtts: Map::default(),
            timers: Timers::default(),
            retired: ShieldStats::default(),
        })
    }

    /// Seeds the publisher-leg RTT of streams created from now on (until
    /// measured); the detector's `initial_rtt` applies when never set.
    pub fn set_default_rtt(&mut self, rtt: Duration) {
        self.default_rtt = Some(rtt);
    }

    /// Seeds the publisher-leg RTT of `stream` (e.g. from the transport's
    /// own measurement); NACK → repair samples refine it afterwards.
    /// Returns `false` if the stream has not started.
    pub fn set_rtt(&mut self, stream: StreamKey, rtt: Duration) -> bool {
        match self.streams.get_mut(&stream) {
            Some(s) => {
                s.seed_rtt(rtt);
                true
            }
            None => false,
        }
    }

    /// The publisher-leg RTT of `stream` in use (the windowed minimum of
    /// NACK → repair samples, or the seed), once seeded or measured.
    pub fn rtt(&self, stream: StreamKey) -> Option<Duration> {
        self.streams.get(&stream)?.rtt.map(|r| r.min())
    }

    /// Counters of one stream (this hop of one layer of one track).
    pub fn stream_stats(&self, stream: StreamKey) -> Option<ShieldStats> {
        self.streams.get(&stream).map(StreamShield::collect)
    }

    /// Counters summed over every stream, ended ones included.
    /// `hop.cache_bytes_max` is the sum of each cache's peak, an upper
    /// bound on the combined peak.
    pub fn stats(&self) -> ShieldStats {
        let mut total = self.retired;
        for s in self.streams.values() {
            total.merge(&s.collect());
        }
        total
    }

    /// Streams currently shielded.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Takes `session` out of (`true`) or back into the per-session share
    /// ([`ShieldConfig::max_streams_per_session`]): for a session that
    /// carries many publishers' tracks, such as a relay link between
    /// nodes, which only the node-wide bound then limits. Call it with
    /// `false` when that session closes.
    pub fn set_trunk(&mut self, session: SessionId, trunk: bool) {
        if trunk {
            self.trunks.insert(session, ());
        } else {
            self.trunks.remove(&session);
        }
    }

    /// Streams shielded for `session`'s tracks now.
    pub fn session_stream_count(&self, session: SessionId) -> usize {
        self.session_streams.get(&session).copied().unwrap_or(0)
    }

    /// The shield of `stream`, created on its first packet if the table
    /// and its publishing session's share have room.
    fn stream(&mut self, stream: StreamKey) -> Option<&mut StreamShield> {
        let full = self.streams.len() >= self.config.max_streams;
        let session = self.track_sessions.get(&stream.track).copied();
        let share = session.map(|s| self.session_streams.get(&s).copied().unwrap_or(0));
        let trunk = session.is_some_and(|s| self.trunks.contains_key(&s));
        let share_full = !trunk && share.is_some_and(|n| n >= self.config.max_streams_per_session);
        match self.streams.entry(stream) {
            Entry::Occupied(e) => Some(e.into_mut()),
            Entry::Vacant(_) if full => {
                self.retired.streams_refused += 1;
                None
            }
            Entry::Vacant(_) if share_full => {
                self.retired.streams_refused_per_session += 1;
                None
            }
            Entry::Vacant(e) => {
                // `new` validated this configuration already.
                let mut shield = StreamShield::new(&self.config, self.default_rtt).ok()?;
                shield.session = session;
                if let Some(s) = session {
                    *self.session_streams.entry(s).or_default() += 1;
                }
                self.timers.reserve_stream();
                Some(e.insert(shield))
            }
        }
    }

    /// Queues `stream`'s next wake-up if a change moved it earlier.
    fn reschedule(&mut self, stream: StreamKey, not_before: Instant) {
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        if let Some(at) = s.wake_at(not_before) {
            self.timers.push(at, stream, &self.streams);
        }
    }

    /// A stream ended: its counters are kept, its share given back.
    fn retire(
        retired: &mut ShieldStats,
        session_streams: &mut Map<SessionId, usize>,
        s: &StreamShield,
    ) {
        let mut ended = s.collect();
        // Gauges of a dropped cache are zero; its peak stays counted.
        ended.hop.cache_packets = 0;
        ended.hop.cache_bytes = 0;
        retired.merge(&ended);
        if let Some(session) = s.session
            && let Entry::Occupied(mut e) = session_streams.entry(session)
        {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

impl LossRecovery for Shield {
    fn on_track_published(&mut self, track: TrackId, session: SessionId) {
        self.track_sessions.insert(track, session);
    }

    fn on_publisher_packet(
        &mut self,
        now: Instant,
        stream: StreamKey,
        ext_seq: u64,
        packet: &RtpPacket,
        repaired: bool,
        actions: &mut RecoveryActions,
    ) -> bool {
        let Some(s) = self.stream(stream) else {
            return true;
        };
        s.router_highest = s.router_highest.max(ext_seq);
        // Truncation is the point: the wire's 16 bits.
        #[allow(clippy::cast_possible_truncation)]
        let seq = ext_seq as u16;
        let arrival = s.detector.handle_packet(now, seq);
        match arrival {
            Arrival::Duplicate => {
                s.stats.duplicates_dropped += 1;
                return false;
            }
            Arrival::Filled { after_nack: true } => s.repaired(now, ext_seq, repaired),
            _ => {}
        }
        let inserted = s
            .responder
            .handle_packet(now, seq, packet.clone(), packet.wire_len());
        if matches!(inserted, CacheInsert::Stored(_)) {
            s.drain_responder(now, stream, Some(seq), actions);
        }
        if matches!(arrival, Arrival::Gap { .. }) {
            // With no reorder delay configured the gap is due at once.
            s.send_nacks(now, stream, actions);
        }
        // O(1): both deadlines are kept, not searched for.
        if let Some(at) = s.wake_at(now) {
            self.timers.push(at, stream, &self.streams);
        }
        true
    }

    fn on_nack(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
        stream: StreamKey,
        lost: &[u64],
        actions: &mut RecoveryActions,
    ) {
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        // Repeats to this subscriber are paced by its own round trip.
        if let Some(&rtt) = self.subscription_rtts.get(&subscription) {
            s.responder.set_subscriber_rtt(subscription, rtt);
        }
        for &ext in lost {
            // Truncation is the point: the responder keys by wire number.
            #[allow(clippy::cast_possible_truncation)]
            s.responder.handle_nack(now, subscription, ext as u16);
        }
        s.drain_responder(now, stream, None, actions);
        s.send_nacks(now, stream, actions);
        self.reschedule(stream, now);
    }

    fn on_subscription_rtt(&mut self, subscription: SubscriptionId, rtt: Duration) {
        self.subscription_rtts.insert(subscription, rtt);
    }

    fn on_subscription_closed(&mut self, subscription: SubscriptionId) {
        self.subscription_rtts.remove(&subscription);
        for s in self.streams.values_mut() {
            s.responder.remove_subscriber(subscription);
        }
    }

    fn on_track_closed(&mut self, track: TrackId) {
        self.track_sessions.remove(&track);
        let (retired, session_streams) = (&mut self.retired, &mut self.session_streams);
        // Their queued wake-ups go stale and are skipped.
        self.streams.retain(|key, s| {
            if key.track != track {
                return true;
            }
            Self::retire(retired, session_streams, s);
            false
        });
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    fn handle_timeout(&mut self, now: Instant, actions: &mut RecoveryActions) {
        // Only the streams whose deadline has passed, each once.
        while let Some(key) = self.timers.pop_due(now, &mut self.streams) {
            let Some(s) = self.streams.get_mut(&key) else {
                continue;
            };
            s.run_timers(now, key, actions);
            if let Some(at) = s.wake_at(now + RETRY_GUARD) {
                self.timers.push(at, key, &self.streams);
            }
        }
    }
}
