//! Learning unsignalled SSRCs at a bounded cost per session.
//!
//! A packet from an SSRC not on the allow-list is authenticated on a probe
//! context before its SSRC is admitted, because `rtc-srtp` creates per-SSRC
//! state before it authenticates. Forged packets never authenticate, so they
//! never fill the learning limit; what they cost is bounded here twice:
//!
//! - The probe context is keyed once and reused, instead of running a full
//!   SRTP and SRTCP key derivation for every probe. Reuse answers exactly as
//!   a fresh context would: `rtc-srtp` updates an SSRC's rollover and replay
//!   state only after a packet authenticated, and a packet that
//!   authenticates admits its SSRC, which is then never probed again; the
//!   probe context has replay protection off. What a reused context does
//!   keep is one map entry per SSRC it saw, so it is rebuilt after
//!   [`PROBE_CONTEXT_SSRCS`] probes.
//! - Probes are spent from a token bucket that refills with the time the
//!   caller passes in (never a wall clock): past it, unknown SSRCs are
//!   dropped before any crypto.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc_crypto::RTCCryptoProvider;
use rtc_srtp::context::Context;
use rtc_srtp::protection_profile::ProtectionProfile;

use super::LearningStats;

/// Probes one probe context serves before it is rebuilt: bounds the
/// per-SSRC state it accumulates from forgeries.
pub(crate) const PROBE_CONTEXT_SSRCS: u32 = 64;
/// Probes a session may spend at once: a publisher's rid layers, their RTX
/// streams and a receiver's RTCP SSRC, all showing up in the same second.
pub(crate) const DEFAULT_BURST: u32 = 16;
/// Probes a session earns per second once its burst is spent.
pub(crate) const DEFAULT_PER_SECOND: u32 = 4;

/// A token bucket of probes, refilled by the caller's clock.
#[derive(Debug, Clone)]
struct ProbeBudget {
    burst: u32,
    /// Time to earn one probe; `None`: never refills.
    interval: Option<Duration>,
    tokens: u32,
    /// When the tokens were last topped up (`None`: never asked yet).
    since: Option<Instant>,
}

impl ProbeBudget {
    fn new(burst: u32, per_second: u32) -> Self {
        ProbeBudget {
            burst,
            interval: (per_second > 0).then(|| Duration::from_secs(1) / per_second),
            tokens: burst,
            since: None,
        }
    }

    /// Takes one probe if there is one left at `now`.
    fn take(&mut self, now: Instant) -> bool {
        let since = *self.since.get_or_insert(now);
        if self.tokens >= self.burst {
            // Full: nothing accrues while full.
            self.since = Some(now);
        } else if let Some(interval) = self.interval {
            let elapsed = now.saturating_duration_since(since);
            let earned = elapsed.as_nanos() / interval.as_nanos().max(1);
            let room = u128::from(self.burst - self.tokens);
            if earned >= room {
                self.tokens = self.burst;
                self.since = Some(now);
            } else if earned > 0 {
                // Below `room`, so it fits a u32; keep the fraction earned.
                let earned = u32::try_from(earned).unwrap_or(u32::MAX);
                self.tokens += earned;
                self.since = Some(since + interval * earned);
            }
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// A session's learning: the probe context, its keys, its budget, its cost.
pub(crate) struct Learning {
    profile: ProtectionProfile,
    /// The receive direction's master key followed by its master salt.
    rx_master: Vec<u8>,
    crypto: Arc<dyn RTCCryptoProvider>,
    prober: Option<Context>,
    probes_on_prober: u32,
    budget: ProbeBudget,
    stats: LearningStats,
}

impl Learning {
    pub(crate) fn new(
        profile: ProtectionProfile,
        rx_master: Vec<u8>,
        crypto: Arc<dyn RTCCryptoProvider>,
    ) -> Self {
        Learning {
            profile,
            rx_master,
            crypto,
            prober: None,
            probes_on_prober: 0,
            budget: ProbeBudget::new(DEFAULT_BURST, DEFAULT_PER_SECOND),
            stats: LearningStats::default(),
        }
    }

    pub(crate) fn set_budget(&mut self, burst: u32, per_second: u32) {
        self.budget = ProbeBudget::new(burst, per_second);
    }

    pub(crate) fn stats(&self) -> LearningStats {
        self.stats
    }

    /// Takes a probe from the budget at `now` (`None`: the caller keeps no
    /// clock and probes are not budgeted); counts a refusal.
    pub(crate) fn may_probe(&mut self, now: Option<Instant>) -> bool {
        let granted = now.is_none_or(|now| self.budget.take(now));
        if !granted {
            self.stats.probes_refused += 1;
        }
        granted
    }

    /// Runs `probe` on the probe context (keyed now if there is none).
    /// `None` if the context could not be keyed.
    pub(crate) fn probe<T>(&mut self, probe: impl FnOnce(&mut Context) -> T) -> Option<T> {
        if self.probes_on_prober >= PROBE_CONTEXT_SSRCS {
            self.prober = None;
        }
        let prober = match &mut self.prober {
            Some(p) => p,
            None => {
                let p = self.profile;
                let (key, salt) = self
                    .rx_master
                    .split_at(p.key_len().min(self.rx_master.len()));
                self.stats.probe_key_derivations += 1;
                self.probes_on_prober = 0;
                let context = Context::new(key, salt, p, None, None, self.crypto.crypto()).ok()?;
                self.prober.insert(context)
            }
        };
        self.probes_on_prober += 1;
        self.stats.probes += 1;
        Some(probe(prober))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_spends_its_burst_then_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut b = ProbeBudget::new(3, 4);
        assert!((0..3).all(|_| b.take(t0)));
        assert!(!b.take(t0));
        assert!(!b.take(t0 + Duration::from_millis(249)));
        assert!(b.take(t0 + Duration::from_millis(250)));
        assert!(!b.take(t0 + Duration::from_millis(400)));
        // The fraction earned before 400 ms is kept: the next one is at 500.
        assert!(b.take(t0 + Duration::from_millis(500)));
        // Ten seconds idle refill the burst, not more.
        let later = t0 + Duration::from_secs(10);
        assert!((0..3).all(|_| b.take(later)));
        assert!(!b.take(later));
    }

    #[test]
    fn time_going_backwards_earns_nothing() {
        let t0 = Instant::now() + Duration::from_secs(5);
        let mut b = ProbeBudget::new(1, 4);
        assert!(b.take(t0));
        assert!(!b.take(t0 - Duration::from_secs(5)));
        assert!(b.take(t0 + Duration::from_millis(250)));
    }

    #[test]
    fn a_rate_of_zero_never_refills() {
        let t0 = Instant::now();
        let mut b = ProbeBudget::new(2, 0);
        assert!(b.take(t0) && b.take(t0));
        assert!(!b.take(t0 + Duration::from_secs(3600)));
    }
}
