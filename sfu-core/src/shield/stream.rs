//! One shielded stream: the publisher leg's detector, the subscribers'
//! responder and cache, and the NACK → repair RTT estimate.

use std::time::{Duration, Instant};

use sfu_nack::{HopStats, LossDetector, Responder, ResponderOutput, extend_near};

use super::{ShieldConfig, ShieldStats};
use crate::packet::RtpPacket;
use crate::recovery::{RecoveryAction, RecoveryActions, StreamKey};
use crate::{SessionId, SubscriptionId};

/// Sequence numbers whose first NACK time is remembered per stream, for
/// RTT samples; a power of two.
const NACK_TIMES: usize = 512;

/// NACK → repair samples kept for the windowed minimum.
const RTT_WINDOW: usize = 16;

/// The windowed minimum of NACK → repair samples.
#[derive(Debug, Clone, Copy)]
pub(super) struct RttEstimate {
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

    pub(super) fn min(&self) -> Duration {
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

/// The shield of one stream (a layer of a track, on this hop).
#[derive(Debug)]
pub(super) struct StreamShield {
    pub detector: LossDetector,
    pub responder: Responder<SubscriptionId, RtpPacket>,
    /// Newest extended sequence number the router gave for this stream:
    /// maps the responder's 16-bit numbers back into the router's space.
    pub router_highest: u64,
    /// `(extended seq, first NACK at, NACKed again)` by `seq % NACK_TIMES`.
    nack_times: Box<[Option<(u64, Instant, bool)>]>,
    pub rtt: Option<RttEstimate>,
    pub stats: ShieldStats,
    /// The publishing session whose share of the table this stream takes,
    /// when the router said whose track it is.
    pub session: Option<SessionId>,
    /// The wake-up queued for this stream in the shield's timer heap (the
    /// earliest, if several); `None` when none is queued.
    pub scheduled: Option<Instant>,
}

impl StreamShield {
    pub fn new(config: &ShieldConfig, rtt: Option<Duration>) -> Result<Self, sfu_nack::Error> {
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
            session: None,
            scheduled: None,
        })
    }

    fn to_router_ext(&self, seq: u16) -> u64 {
        extend_near(self.router_highest, seq)
    }

    pub fn seed_rtt(&mut self, rtt: Duration) {
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
    pub fn repaired(&mut self, now: Instant, ext: u64, rtx: bool) {
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
    pub fn send_nacks(&mut self, now: Instant, stream: StreamKey, actions: &mut RecoveryActions) {
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
    pub fn drain_responder(
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

    pub fn collect(&self) -> ShieldStats {
        ShieldStats {
            hop: HopStats::collect(&self.detector, &self.responder),
            ..self.stats
        }
    }

    /// Runs the stream's timers at `now`: give-ups and NACK retries on the
    /// publisher leg, expired waiters and aged-out packets on the
    /// subscribers' side.
    pub fn run_timers(&mut self, now: Instant, stream: StreamKey, actions: &mut RecoveryActions) {
        self.stats.timer_runs += 1;
        self.detector.handle_timeout(now);
        self.responder.handle_timeout(now);
        self.send_nacks(now, stream, actions);
        self.drain_responder(now, stream, None, actions);
    }

    /// A wake-up to queue after a change, if the stream's next deadline
    /// comes before the one already queued (or none is): it is recorded as
    /// [`scheduled`](Self::scheduled). A later deadline needs no new entry;
    /// the earlier one, when it fires, reschedules. The wake-up is never
    /// before `not_before`, so a deadline that running the timers did not
    /// move cannot make them run again and again at one instant.
    pub fn wake_at(&mut self, not_before: Instant) -> Option<Instant> {
        let detector = self.detector.poll_timeout();
        let responder = self.responder.poll_timeout();
        let at = match (detector, responder) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        let at = at.max(not_before);
        if self.scheduled.is_some_and(|queued| queued <= at) {
            return None;
        }
        self.scheduled = Some(at);
        Some(at)
    }
}
