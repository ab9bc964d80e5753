//! What to simulate, from the command line.

use std::time::Duration;

use crate::model::{LinkModel, WARMUP};

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub struct SimOptions {
    /// Seed of every random choice.
    pub seed: u64,
    /// Seconds of media.
    pub seconds: u64,
    /// Mean loss on every link, each direction.
    pub loss: f64,
    /// Gilbert-Elliott burst loss instead of i.i.d.
    pub burst: bool,
    /// Both SFUs run the shield (else `ForwardNacks`).
    pub shield: bool,
    /// Subscribers on SFU B.
    pub subscribers: usize,
    /// One-way delays: publisher ↔ A, A ↔ B, B ↔ subscriber.
    pub delays: [Duration; 3],
    /// Upper bound of the uniform per-packet jitter.
    pub jitter: Duration,
    /// Probability that a packet is held back (reordered).
    pub reorder: f64,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            seconds: 60,
            loss: 0.05,
            burst: false,
            shield: true,
            subscribers: 20,
            delays: [
                Duration::from_millis(20),
                Duration::from_millis(40),
                Duration::from_millis(10),
            ],
            jitter: Duration::from_millis(2),
            reorder: 0.01,
        }
    }
}

impl SimOptions {
    /// The damage every link does.
    pub(crate) fn link_model(&self) -> LinkModel {
        LinkModel {
            seed: self.seed,
            loss: self.loss,
            burst: self.burst,
            jitter: self.jitter,
            reorder: self.reorder,
        }
    }

    /// Parses the command line (without the program name).
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut o = Self::default();
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            let bad = |e: &dyn std::fmt::Display| format!("{flag}: {e}");
            match flag.as_str() {
                "--seed" => o.seed = value()?.parse().map_err(|e| bad(&e))?,
                "--seconds" => o.seconds = value()?.parse().map_err(|e| bad(&e))?,
                "--loss" => o.loss = value()?.parse().map_err(|e| bad(&e))?,
                "--burst" => o.burst = true,
                "--shield" => {
                    o.shield = match value()?.as_str() {
                        "on" => true,
                        "off" => false,
                        v => return Err(format!("--shield on|off, not {v}")),
                    }
                }
                "--subscribers" => o.subscribers = value()?.parse().map_err(|e| bad(&e))?,
                "--jitter-ms" => {
                    o.jitter = Duration::from_millis(value()?.parse().map_err(|e| bad(&e))?)
                }
                "--reorder" => o.reorder = value()?.parse().map_err(|e| bad(&e))?,
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        if !(0.0..1.0).contains(&o.loss) || !(0.0..=1.0).contains(&o.reorder) {
            return Err("--loss must be in [0, 1), --reorder in [0, 1]".into());
        }
        if o.seconds <= WARMUP.as_secs() || o.subscribers == 0 {
            return Err("--seconds must exceed the 1 s warm-up; --subscribers > 0".into());
        }
        Ok(o)
    }
}
