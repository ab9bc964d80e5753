//! One direction of one link, on the simulation's clock.

use std::time::{Duration, Instant};

use sfu_testkit::netem::{Link, LinkConfig, Loss};
use sfu_testkit::rng::Rng;

/// The damage every link of a run does (each draws from its own stream of
/// the seed).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkModel {
    pub(crate) seed: u64,
    /// Mean loss.
    pub(crate) loss: f64,
    /// Gilbert-Elliott burst loss with that mean instead of i.i.d.
    pub(crate) burst: bool,
    /// Upper bound of the uniform per-packet jitter (FIFO: never reorders).
    pub(crate) jitter: Duration,
    /// Probability that a packet is held back so later ones overtake it.
    pub(crate) reorder: f64,
}

/// One direction of one link: the kit's netem model, on the simulation's
/// clock (time since the world's start).
pub(crate) struct SimLink {
    link: Link<()>,
    t0: Instant,
}

impl SimLink {
    /// A link of `model` with one-way `delay`, drawing from stream `id`.
    pub(crate) fn new(model: &LinkModel, t0: Instant, delay: Duration, id: u64) -> Self {
        let loss = if model.burst {
            Loss::burst(model.loss)
        } else {
            // Drawn even at zero loss, so a seed names one schedule.
            Loss::Random(model.loss)
        };
        let config = LinkConfig::new(delay)
            .with_jitter(model.jitter)
            .with_reorder(model.reorder)
            .with_loss(loss);
        Self {
            link: Link::new(config, Rng::splitmix_stream(model.seed, id)),
            t0,
        }
    }

    /// When a packet sent at `at` arrives, or `None` if it is lost.
    pub(crate) fn send(&mut self, at: Duration) -> Option<Duration> {
        let arrival = self.link.transit(self.t0 + at).arrival?;
        Some(arrival - self.t0)
    }
}
