//! What to simulate, from the command line.

use std::time::Duration;

use crate::model::{LinkModel, WARMUP};

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub struct TreeOptions {
    /// Seed of every random choice.
    pub seed: u64,
    /// Seconds of media.
    pub seconds: u64,
    /// i.i.d. loss on every link, each direction.
    pub loss: f64,
    /// Nodes (routers); node 0 is the origin.
    pub nodes: usize,
    /// Viewers in all, spread evenly over the nodes (viewer `v` on node
    /// `v % nodes`).
    pub viewers: usize,
    /// Most relay children of one node, the origin included (`K`);
    /// `nodes - 1` is the star without a tree.
    pub fanout: usize,
    /// One-way delays: publisher ↔ origin, node ↔ node (each hop), node ↔
    /// viewer.
    pub delays: [Duration; 3],
    /// Upper bound of the uniform per-packet jitter.
    pub jitter: Duration,
    /// Probability that a packet is held back (reordered).
    pub reorder: f64,
}

impl Default for TreeOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            seconds: 10,
            loss: 0.05,
            nodes: 10,
            viewers: 1000,
            fanout: 2,
            delays: [
                Duration::from_millis(20),
                Duration::from_millis(20),
                Duration::from_millis(10),
            ],
            jitter: Duration::from_millis(2),
            reorder: 0.01,
        }
    }
}

impl TreeOptions {
    /// The same with the origin relaying to every other node (no tree).
    pub fn star(self) -> Self {
        Self {
            fanout: self.nodes.saturating_sub(1).max(1),
            ..self
        }
    }

    /// The damage every link does.
    pub(crate) fn link_model(&self) -> LinkModel {
        LinkModel {
            seed: self.seed,
            loss: self.loss,
            burst: false,
            jitter: self.jitter,
            reorder: self.reorder,
        }
    }

    /// Parses the command line (without the program name).
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut o = Self::default();
        let mut star = false;
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            let bad = |e: &dyn std::fmt::Display| format!("{flag}: {e}");
            match flag.as_str() {
                "--seed" => o.seed = value()?.parse().map_err(|e| bad(&e))?,
                "--seconds" => o.seconds = value()?.parse().map_err(|e| bad(&e))?,
                "--loss" => o.loss = value()?.parse().map_err(|e| bad(&e))?,
                "--nodes" => o.nodes = value()?.parse().map_err(|e| bad(&e))?,
                "--viewers" => o.viewers = value()?.parse().map_err(|e| bad(&e))?,
                "--fanout" => o.fanout = value()?.parse().map_err(|e| bad(&e))?,
                "--star" => star = true,
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        if !(0.0..1.0).contains(&o.loss) {
            return Err("--loss must be in [0, 1)".into());
        }
        if o.seconds <= WARMUP.as_secs() {
            return Err("--seconds must exceed the 1 s warm-up".into());
        }
        if !(2..=4096).contains(&o.nodes) || o.viewers == 0 || o.fanout == 0 {
            return Err("--nodes in 2..=4096, --viewers > 0, --fanout > 0".into());
        }
        Ok(if star { o.star() } else { o })
    }
}
