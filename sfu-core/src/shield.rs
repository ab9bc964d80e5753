//! The NACK shield: `sfu-nack`'s per-hop loss recovery plugged into the
//! router as its [`LossRecovery`].
//!
//! Per published stream (a layer of a track) the shield runs a
//! [`LossDetector`] on the publisher leg, which NACKs upstream with retries,
//! and a [`Responder`] that owns the stream's [`RetransmitCache`] of parsed
//! packets and answers subscribers' NACKs from it. A packet the cache lacks
//! is asked of the publisher once, however many subscribers want it.
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
//! it from the cache as a [`RecoveryAction::Retransmit`] (RTX when it
//! negotiated RTX).
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

use std::collections::hash_map::Entry;
use std::time::{Duration, Instant};

use sfu_nack::{
    Arrival, CacheInsert, DetectorConfig, HopStats, LossDetector, Responder, ResponderConfig,
    ResponderOutput, extend_near,
};

use crate::packet::RtpPacket;
use crate::recovery::{LossRecovery, RecoveryAction, RecoveryActions, StreamKey};
use crate::{Map, SubscriptionId, TrackId};

/// Sequence numbers whose first NACK time is remembered per stream, for
/// RTT samples; a power of two.
const NACK_TIMES: usize = 512;

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
}

impl Default for ShieldConfig {
    fn default() -> Self {
        Self {
            detector: DetectorConfig::default(),
            responder: ResponderConfig::default(),
            max_streams: 4096,
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
}

impl ShieldStats {
    fn merge(&mut self, other: &ShieldStats) {
        self.hop.merge(&other.hop);
        self.repairs_sent += other.repairs_sent;
        self.repairs_forwarded += other.repairs_forwarded;
        self.duplicates_dropped += other.duplicates_dropped;
        self.rtt_samples += other.rtt_samples;
        self.streams_refused += other.streams_refused;
    }
}

/// NACK → repair samples kept for the windowed minimum.
const RTT_WINDOW: usize = 16;

/// The windowed minimum of NACK → repair samples.
#[derive(Debug, Clone, Copy)]
struct RttEstimate {
    samples: [Duration; RTT_WINDOW],
    len: usize,
    next: usize,
    /// Set by an explicit seed, which the first measurement replaces.
    seeded: bool,
}

impl RttEstimate {
    fn seeded(rtt: Duration) -> Self {
        let mut e = Self {
            samples: [Duration::ZERO; RTT_WINDOW],
            len: 0,
            next: 0,
            seeded: true,
        };
        e.push(rtt);
        e
    }

    fn sample(&mut self, rtt: Duration) {
        if self.seeded {
            *self = Self::seeded(rtt);
            self.seeded = false;
        } else {
            self.push(rtt);
        }
    }

    fn push(&mut self, rtt: Duration) {
        if let Some(slot) = self.samples.get_mut(self.next) {
            *slot = rtt;
        }
        self.next = (self.next + 1) % RTT_WINDOW;
        self.len = (self.len + 1).min(RTT_WINDOW);
    }

    fn min(&self) -> Duration {
        self.samples
            .iter()
            .take(self.len)
            .min()
            .copied()
            .unwrap_or_default()
    }

    /// How long after a first NACK its repair is overdue: the minimum
    /// round trip plus twice the samples' mean excess over it (their
    /// jitter), at least 1 ms and at most a quarter of the round trip.
    fn overdue_after(&self) -> Duration {
        let min = self.min();
        let held = self.samples.iter().take(self.len);
        let excess: Duration = held.map(|s| s.saturating_sub(min)).sum();
        let mean_excess = excess / u32::try_from(self.len.max(1)).unwrap_or(1);
        let allowance = (mean_excess * 2).clamp(
            Duration::from_millis(1),
            (min / 4).max(Duration::from_millis(1)),
        );
        min + allowance
    }

    /// The RTT to give the detector so that its retry interval (a round
    /// trip and a quarter) is [`overdue_after`](Self::overdue_after).
    fn detector_rtt(&self) -> Duration {
        self.overdue_after() * 4 / 5
    }
}

#[derive(Debug)]
struct StreamShield {
    detector: LossDetector,
    responder: Responder<SubscriptionId, RtpPacket>,
    /// Newest extended sequence number the router gave for this stream:
    /// maps the responder's 16-bit numbers back into the router's space.
    router_highest: u64,
    /// `(extended seq, first NACK at, NACKed again)` by `seq % NACK_TIMES`.
    nack_times: Box<[Option<(u64, Instant, bool)>]>,
    rtt: Option<RttEstimate>,
    stats: ShieldStats,
}

impl StreamShield {
    fn new(config: &ShieldConfig, rtt: Option<Duration>) -> Result<Self, sfu_nack::Error> {
        let mut detector = LossDetector::new(config.detector)?;
        let estimate = rtt.map(RttEstimate::seeded);
        if let Some(e) = estimate {
            detector.set_rtt(e.detector_rtt());
        }
        Ok(Self {
            detector,
            responder: Responder::new(config.responder)?,
            router_highest: 0,
            nack_times: vec![None; NACK_TIMES].into_boxed_slice(),
            rtt: estimate,
            stats: ShieldStats::default(),
        })
    }

    fn to_router_ext(&self, seq: u16) -> u64 {
        extend_near(self.router_highest, seq)
    }

    fn seed_rtt(&mut self, rtt: Duration) {
        let e = RttEstimate::seeded(rtt);
        self.rtt = Some(e);
        self.detector.set_rtt(e.detector_rtt());
    }

    fn nack_slot(&mut self, ext: u64) -> Option<&mut Option<(u64, Instant, bool)>> {
        // Masked below NACK_TIMES, which fits a usize.
        #[allow(clippy::cast_possible_truncation)]
        let index = (ext % NACK_TIMES as u64) as usize;
        self.nack_times.get_mut(index)
    }

    /// A NACKed packet arrived: one RTT sample if it came as RTX and was
    /// NACKed only once.
    fn repaired(&mut self, now: Instant, ext: u64, rtx: bool) {
        let Some(slot) = self.nack_slot(ext) else {
            return;
        };
        let Some((e, at, retried)) = *slot else {
            return;
        };
        if e != ext {
            return;
        }
        *slot = None;
        if retried || !rtx {
            return;
        }
        let sample = now.saturating_duration_since(at);
        let estimate = self.rtt.get_or_insert_with(|| RttEstimate::seeded(sample));
        estimate.sample(sample);
        let rtt = estimate.detector_rtt();
        self.detector.set_rtt(rtt);
        self.stats.rtt_samples += 1;
    }

    /// Drains the detector's due NACKs into one upstream request.
    fn send_nacks(&mut self, now: Instant, stream: StreamKey, actions: &mut RecoveryActions) {
        let mut seqs: Vec<u64> = Vec::new();
        while let Some(pair) = self.detector.poll_nack(now) {
            for seq in pair.seqs() {
                let ext = self.to_router_ext(seq);
                if let Some(slot) = self.nack_slot(ext) {
                    match slot {
                        Some((e, _, retried)) if *e == ext => *retried = true,
                        _ => *slot = Some((ext, now, false)),
                    }
                }
                seqs.push(ext);
            }
        }
        if !seqs.is_empty() {
            actions.push(RecoveryAction::NackUpstream { stream, seqs });
        }
    }

    /// Carries out the responder's outputs. `forwarded` is a packet the
    /// router is about to fan out: retransmissions of it to waiters are
    /// dropped, the fan-out serves them.
    fn drain_responder(
        &mut self,
        now: Instant,
        stream: StreamKey,
        forwarded: Option<u16>,
        actions: &mut RecoveryActions,
    ) {
        while let Some(output) = self.responder.poll_output() {
            match output {
                ResponderOutput::Retransmit {
                    subscriber,
                    seq,
                    packet,
                } => {
                    if forwarded == Some(seq) {
                        self.stats.repairs_forwarded += 1;
                        continue;
                    }
                    self.stats.repairs_sent += 1;
                    actions.push(RecoveryAction::Retransmit {
                        subscription: subscriber,
                        stream,
                        ext_seq: self.to_router_ext(seq),
                        packet,
                    });
                }
                ResponderOutput::RequestUpstream { seq } => {
                    // Folded into the detector's own schedule: a packet it
                    // already NACKs is not asked for twice.
                    self.detector.request_repair(now, seq);
                }
            }
        }
    }

    fn collect(&self) -> ShieldStats {
        ShieldStats {
            hop: HopStats::collect(&self.detector, &self.responder),
            ..self.stats
        }
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

    fn stream(&mut self, stream: StreamKey) -> Option<&mut StreamShield> {
        let full = self.streams.len() >= self.config.max_streams;
        match self.streams.entry(stream) {
            Entry::Occupied(e) => Some(e.into_mut()),
            Entry::Vacant(_) if full => {
                self.retired.streams_refused += 1;
                None
            }
            // `new` validated this configuration already.
            Entry::Vacant(e) => {
                Some(e.insert(StreamShield::new(&self.config, self.default_rtt).ok()?))
            }
        }
    }
}

impl LossRecovery for Shield {
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
        for &ext in lost {
            // Truncation is the point: the responder keys by wire number.
            #[allow(clippy::cast_possible_truncation)]
            s.responder.handle_nack(now, subscription, ext as u16);
        }
        s.drain_responder(now, stream, None, actions);
        s.send_nacks(now, stream, actions);
    }

    fn on_subscription_closed(&mut self, subscription: SubscriptionId) {
        for s in self.streams.values_mut() {
            s.responder.remove_subscriber(subscription);
        }
    }

    fn on_track_closed(&mut self, track: TrackId) {
        let retired = &mut self.retired;
        self.streams.retain(|key, s| {
            if key.track != track {
                return true;
            }
            let mut ended = s.collect();
            // Gauges of a dropped cache are zero; its peak stays counted.
            ended.hop.cache_packets = 0;
            ended.hop.cache_bytes = 0;
            retired.merge(&ended);
            false
        });
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.streams
            .values()
            .flat_map(|s| [s.detector.poll_timeout(), s.responder.poll_timeout()])
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Instant, actions: &mut RecoveryActions) {
        for (&key, s) in &mut self.streams {
            s.detector.handle_timeout(now);
            s.responder.handle_timeout(now);
            s.send_nacks(now, key, actions);
            s.drain_responder(now, key, None, actions);
        }
    }
}
