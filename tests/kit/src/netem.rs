//! A netem-style model of one direction of a link: one-way delay, uniform
//! jitter, i.i.d. or Gilbert-Elliott burst loss, reordering by hold-back,
//! duplication. Network damage is a [`LinkConfig`] value, not code written
//! for each test.
//!
//! Two ways to use a [`Link`]:
//! - as a queue: [`Link::send`] items, then [`Link::poll`] them when they
//!   are due (ask [`Link::next_delivery`] when to look again);
//! - as a schedule, for a simulator that keeps one event queue for many
//!   links: [`Link::transit`] says when (and how many times) a packet sent
//!   now arrives, and the caller queues it.
//!
//! Every packet consumes the same random draws in the same order, whatever
//! its fate: the loss draw(s), jitter, the reorder decision, the hold-back,
//! then (only when duplication is configured) the duplication decision and
//! the copy's jitter. So a seed names one schedule, and adding duplication
//! later does not change what happens to a link without it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::rng::Rng;

/// How packets are lost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// Nothing is lost (and no random draw is spent on loss).
    None,
    /// Each packet is lost with this probability, independently.
    Random(f64),
    /// Gilbert-Elliott: a two-state chain where the bad state loses
    /// `bad_state_loss` of its packets and the good state none.
    GilbertElliott {
        /// Long-run share of packets lost.
        mean_loss: f64,
        /// Loss probability in the bad state.
        bad_state_loss: f64,
        /// Mean number of packets spent in the bad state per visit.
        mean_burst_packets: f64,
    },
}

impl Loss {
    /// Burst loss with a long-run mean of `mean_loss`: 75 % loss in the bad
    /// state, which lasts 6 packets on average (a congested queue or a
    /// Wi-Fi fade, rather than a dead link).
    pub fn burst(mean_loss: f64) -> Self {
        Loss::GilbertElliott {
            mean_loss,
            bad_state_loss: 0.75,
            mean_burst_packets: 6.0,
        }
    }
}

/// The damage one direction of a link does.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct LinkConfig {
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Uniform extra delay in `[0, jitter)`; packets still leave in order
    /// unless held back (a jittery queue does not reorder by itself).
    pub jitter: Duration,
    /// How packets are lost.
    pub loss: Loss,
    /// Probability that a packet is held back and overtaken by later ones.
    pub reorder: f64,
    /// How long a held-back packet is delayed: uniform in `[min, max)`.
    pub hold_back: (Duration, Duration),
    /// Probability that a packet arrives twice.
    pub duplicate: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: Loss::None,
            reorder: 0.0,
            hold_back: (Duration::from_micros(500), Duration::from_millis(4)),
            duplicate: 0.0,
        }
    }
}

impl LinkConfig {
    /// A clean link with this one-way delay.
    pub fn new(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    /// Sets [`LinkConfig::jitter`].
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets [`LinkConfig::loss`].
    pub fn with_loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }

    /// Sets [`LinkConfig::reorder`].
    pub fn with_reorder(mut self, reorder: f64) -> Self {
        self.reorder = reorder;
        self
    }

    /// Sets [`LinkConfig::hold_back`].
    pub fn with_hold_back(mut self, min: Duration, max: Duration) -> Self {
        self.hold_back = (min, max);
        self
    }

    /// Sets [`LinkConfig::duplicate`].
    pub fn with_duplicate(mut self, duplicate: f64) -> Self {
        self.duplicate = duplicate;
        self
    }
}

/// What the link does with one packet: when it arrives, if at all, and
/// when its duplicate arrives, if there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Transit {
    /// Arrival of the packet; `None` if it was lost.
    pub arrival: Option<Instant>,
    /// Arrival of a second copy.
    pub duplicate: Option<Instant>,
}

/// Packets counted by a [`Link`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// Packets offered to the link.
    pub sent: u64,
    /// Packets lost.
    pub lost: u64,
    /// Packets delivered twice.
    pub duplicated: u64,
    /// Packets held back so that later ones overtake them.
    pub reordered: u64,
}

/// The Gilbert-Elliott chain's state and transition probabilities.
#[derive(Debug, Clone, Copy)]
struct Chain {
    bad: bool,
    enter: f64,
    leave: f64,
    bad_state_loss: f64,
}

/// One direction of a link, holding the items in flight.
#[derive(Debug)]
pub struct Link<T> {
    config: LinkConfig,
    chain: Option<Chain>,
    rng: Rng,
    /// The latest arrival of a packet that was not held back: the next one
    /// cannot arrive before it (FIFO).
    last_arrival: Option<Instant>,
    /// Items in flight: (arrival, order sent, item), sorted by the first two.
    in_flight: VecDeque<(Instant, u64, T)>,
    order: u64,
    stats: LinkStats,
}

impl<T> Link<T> {
    /// A link doing `config`'s damage with draws from `rng`.
    pub fn new(config: LinkConfig, rng: Rng) -> Self {
        let chain = match config.loss {
            Loss::GilbertElliott {
                mean_loss,
                bad_state_loss,
                mean_burst_packets,
            } => {
                // Stationary share of the bad state that gives `mean_loss`.
                let bad_share = (mean_loss / bad_state_loss).min(0.999);
                let leave = 1.0 / mean_burst_packets;
                Some(Chain {
                    bad: false,
                    enter: bad_share * leave / (1.0 - bad_share),
                    leave,
                    bad_state_loss,
                })
            }
            _ => None,
        };
        Self {
            config,
            chain,
            rng,
            last_arrival: None,
            in_flight: VecDeque::new(),
            order: 0,
            stats: LinkStats::default(),
        }
    }

    /// The damage this link does.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Decides the fate of a packet sent at `now`, without holding it.
    pub fn transit(&mut self, now: Instant) -> Transit {
        self.stats.sent += 1;
        let lost = match (&mut self.chain, self.config.loss) {
            (Some(chain), _) => {
                let flip = if chain.bad { chain.leave } else { chain.enter };
                if self.rng.chance(flip) {
                    chain.bad = !chain.bad;
                }
                chain.bad && self.rng.chance(chain.bad_state_loss)
            }
            (None, Loss::Random(p)) => self.rng.chance(p),
            (None, _) => false,
        };
        let jitter = self.rng.upto(self.config.jitter);
        let held = self.rng.chance(self.config.reorder);
        let (min, max) = self.config.hold_back;
        let extra = self.rng.between(min, max);
        let duplicate = if self.config.duplicate > 0.0 {
            let twice = self.rng.chance(self.config.duplicate);
            let jitter = self.rng.upto(self.config.jitter);
            twice.then_some(jitter)
        } else {
            None
        };
        if lost {
            self.stats.lost += 1;
            return Transit::default();
        }
        let base = now + self.config.delay;
        let arrival = if held {
            // Later packets overtake this one.
            self.stats.reordered += 1;
            base + jitter + extra
        } else {
            self.fifo(base + jitter)
        };
        let duplicate = duplicate.map(|jitter| {
            self.stats.duplicated += 1;
            self.fifo(base + jitter)
        });
        Transit {
            arrival: Some(arrival),
            duplicate,
        }
    }

    fn fifo(&mut self, arrival: Instant) -> Instant {
        let at = self.last_arrival.map_or(arrival, |last| last.max(arrival));
        self.last_arrival = Some(at);
        at
    }

    /// Sends `item` at `now`; it comes out of [`Link::poll`] when due, twice
    /// if duplicated, never if lost.
    pub fn send(&mut self, now: Instant, item: T)
    where
        T: Clone,
    {
        let transit = self.transit(now);
        if let Some(at) = transit.duplicate {
            self.enqueue(at, item.clone());
        }
        if let Some(at) = transit.arrival {
            self.enqueue(at, item);
        }
    }

    fn enqueue(&mut self, at: Instant, item: T) {
        let order = self.order;
        self.order += 1;
        // Items arrive mostly in order: search from the back.
        let pos = self
            .in_flight
            .iter()
            .rposition(|(t, o, _)| (*t, *o) <= (at, order))
            .map_or(0, |p| p + 1);
        self.in_flight.insert(pos, (at, order, item));
    }

    /// The next item due at or before `now`.
    pub fn poll(&mut self, now: Instant) -> Option<T> {
        if self.in_flight.front()?.0 <= now {
            self.in_flight.pop_front().map(|(_, _, item)| item)
        } else {
            None
        }
    }

    /// When the next item in flight arrives.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.front().map(|(t, _, _)| *t)
    }

    /// Items in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Sends `n` numbered items 1 ms apart and drains everything.
    fn run(config: LinkConfig, seed: u64, n: u32) -> (Vec<(Duration, u32)>, LinkStats) {
        let t0 = Instant::now();
        let mut link = Link::new(config, Rng::splitmix_stream(seed, 1));
        let mut out = Vec::new();
        for i in 0..n {
            let now = t0 + MS * i;
            link.send(now, i);
            while let Some(item) = link.poll(now) {
                out.push((now - t0, item));
            }
        }
        while let Some(at) = link.next_delivery() {
            let item = link.poll(at).unwrap();
            out.push((at - t0, item));
        }
        (out, link.stats())
    }

    #[test]
    fn same_seed_same_schedule_other_seed_other_schedule() {
        let config = LinkConfig::new(20 * MS)
            .with_jitter(5 * MS)
            .with_loss(Loss::Random(0.1))
            .with_reorder(0.05)
            .with_duplicate(0.02);
        assert_eq!(run(config, 3, 2000), run(config, 3, 2000));
        assert_ne!(run(config, 3, 2000).0, run(config, 4, 2000).0);
    }

    #[test]
    fn iid_loss_rate_within_tolerance() {
        let (out, stats) = run(
            LinkConfig::new(MS).with_loss(Loss::Random(0.05)),
            11,
            100_000,
        );
        let rate = stats.lost as f64 / stats.sent as f64;
        assert!((rate - 0.05).abs() < 0.003, "loss rate {rate}");
        assert_eq!(out.len() as u64, stats.sent - stats.lost);
    }

    #[test]
    fn burst_loss_has_its_mean_and_longer_runs() {
        fn mean_run(lost: &[bool]) -> f64 {
            let runs: Vec<usize> = lost
                .split(|l| !l)
                .map(<[bool]>::len)
                .filter(|&n| n > 0)
                .collect();
            runs.iter().sum::<usize>() as f64 / runs.len() as f64
        }
        let lost_pattern = |loss: Loss| {
            let t0 = Instant::now();
            let mut link: Link<()> =
                Link::new(LinkConfig::new(MS).with_loss(loss), Rng::splitmix(5));
            let lost: Vec<bool> = (0..100_000u32)
                .map(|i| link.transit(t0 + MS * i).arrival.is_none())
                .collect();
            lost
        };
        let burst = lost_pattern(Loss::burst(0.05));
        let iid = lost_pattern(Loss::Random(0.05));
        let rate = burst.iter().filter(|l| **l).count() as f64 / burst.len() as f64;
        assert!((rate - 0.05).abs() < 0.01, "burst loss rate {rate}");
        // 75 % loss over ~6-packet bad states: runs of ~4, against ~1.05
        // for independent loss at the same rate.
        assert!(mean_run(&burst) > 2.5, "burst runs {}", mean_run(&burst));
        assert!(mean_run(&iid) < 1.2, "iid runs {}", mean_run(&iid));
    }

    #[test]
    fn fifo_without_reorder_even_with_jitter() {
        let (out, stats) = run(LinkConfig::new(10 * MS).with_jitter(8 * MS), 9, 5000);
        let items: Vec<u32> = out.iter().map(|(_, i)| *i).collect();
        assert_eq!(items, (0..5000).collect::<Vec<_>>());
        assert_eq!(stats.reordered, 0);
    }

    #[test]
    fn reordering_lets_later_packets_overtake() {
        let (out, stats) = run(LinkConfig::new(10 * MS).with_reorder(0.1), 9, 5000);
        assert_eq!(out.len(), 5000);
        let overtaken = out.windows(2).filter(|w| w[1].1 < w[0].1).count();
        assert!(overtaken > 0);
        let rate = stats.reordered as f64 / 5000.0;
        assert!((rate - 0.1).abs() < 0.02, "reorder rate {rate}");
    }

    #[test]
    fn duplicates_arrive_twice() {
        let (out, stats) = run(LinkConfig::new(10 * MS).with_duplicate(0.1), 2, 10_000);
        assert_eq!(out.len() as u64, 10_000 + stats.duplicated);
        let rate = stats.duplicated as f64 / 10_000.0;
        assert!((rate - 0.1).abs() < 0.02, "duplication rate {rate}");
    }

    #[test]
    fn delay_and_jitter_bound_the_arrival() {
        let t0 = Instant::now();
        let config = LinkConfig::new(30 * MS).with_jitter(10 * MS);
        let mut link: Link<u32> = Link::new(config, Rng::splitmix(1));
        for i in 0..1000u32 {
            let sent = t0 + 5 * MS * i;
            let at = link.transit(sent).arrival.unwrap();
            assert!(at >= sent + 30 * MS && at < sent + 40 * MS + 5 * MS);
        }
        let mut link: Link<u32> = Link::new(LinkConfig::new(30 * MS), Rng::splitmix(1));
        link.send(t0, 7);
        assert_eq!(link.next_delivery(), Some(t0 + 30 * MS));
        assert_eq!(link.poll(t0 + 29 * MS), None);
        assert_eq!(link.poll(t0 + 30 * MS), Some(7));
    }

    #[test]
    fn no_duplication_spends_no_extra_draws() {
        // A link without duplication draws 4 values per packet (i.i.d. loss,
        // jitter, reorder, hold-back): the fifth packet's fate depends on
        // the 17th..20th draws of the stream.
        let t0 = Instant::now();
        let config = LinkConfig::new(MS).with_loss(Loss::Random(0.5));
        let mut link: Link<()> = Link::new(config, Rng::splitmix(42));
        let mut rng = Rng::splitmix(42);
        for i in 0..100u32 {
            let lost = rng.chance(0.5);
            for _ in 0..3 {
                rng.next_u64();
            }
            assert_eq!(link.transit(t0 + MS * i).arrival.is_none(), lost);
        }
    }
}
