//! A deterministic lossy-network simulation of the NACK shield: a publisher
//! → SFU A → relay → SFU B → 20 subscribers, running the real `sfu-core`
//! routers (with `sfu-nack`'s shield, or the forward-NACKs baseline) in
//! simulated time, with no sockets. Same seed, same numbers.
//!
//! Run: `cargo run --release -p sfu-sim --bin nack_sim -- [--seed N] [--seconds S]
//! [--loss P] [--burst] [--shield on|off] [--subscribers N] [--jitter-ms J]
//! [--reorder P]`. The last line printed is one JSON object.
//!
//! # Model
//!
//! - Links (each direction separately): one-way delay (20 ms publisher ↔ A,
//!   40 ms A ↔ B, 10 ms B ↔ each subscriber), uniform jitter (0–2 ms by
//!   default, FIFO: jitter never reorders), reordering (1% of packets held
//!   back 0.5–4 ms so later ones overtake them), and loss: i.i.d. with
//!   probability `--loss`, or with `--burst` a Gilbert-Elliott chain with
//!   the same mean loss (bad state loses 75%, good state nothing, mean stay
//!   in the bad state 6 packets). RTCP crosses the same links as RTP, so
//!   NACKs and reports are lost too.
//! - The relay is in-process: on A a subscriber session pulling both tracks
//!   with RTX, on B a publisher session publishing them with those SSRCs.
//! - The publisher sends VP8 at 30 fps (a keyframe of 30 packets every 2 s,
//!   otherwise frames of 2–6 packets, paced 0.25 ms apart) and Opus at
//!   50 pps, keeps a send history, answers NACKs with RTX (audio too: the
//!   simulated endpoints negotiate RTX for both), answers PLI with a
//!   keyframe and sends sender reports every second.
//! - Each subscriber negotiates RTX, decodes it, runs `sfu-nack`'s
//!   `LossDetector` per stream (the receiver logic a browser has), NACKs
//!   SFU B, estimates its RTT from NACK → RTX round trips (first NACKs
//!   only, windowed minimum) and sends receiver reports every second.
//! - `--shield off`: both SFUs run `ForwardNacks` (NACKs forwarded
//!   upstream, retransmissions forwarded down, no cache).
//!
//! # Metrics
//!
//! Media packets are the publisher's original video and audio packets sent
//! after a one-second warm-up (subscriptions start at the first keyframe
//! each hop sees). The run sends media for `--seconds`, then lets one more
//! second pass so late repairs can land.
//!
//! - `delivered_within_deadline`: (subscriber, media packet) pairs where the
//!   packet reached the subscriber within 250 ms of the publisher sending
//!   it, ÷ media packets × subscribers.
//! - `recovery_ms_p50` / `_p99`: over (subscriber, media packet) pairs that
//!   needed a repair (a copy was lost on the way) and arrived at all:
//!   arrival − send − the path's nominal one-way delay (70 ms), i.e. how
//!   late the repair made it. `recovery_ms_p50_{publisher,relay,subscriber}_hop`
//!   split it by the first hop where a copy was lost, next to each hop's
//!   RTT as the routers (relay, subscriber hops) and the publisher
//!   (publisher hop) measured it from RTCP reports.
//! - `publisher_nacks_per_publisher_loss`: distinct sequence numbers the
//!   publisher is asked to repair (NACKs that reached it) ÷ distinct
//!   packets whose original was lost on publisher → A, over the whole run.
//! - `publisher_nack_requests_per_publisher_loss`: every NACKed sequence
//!   number reaching the publisher, retries included, ÷ the same losses.
//! - `repairs_from_nearest_cache`: (subscriber, media packet) pairs where a
//!   copy B sent to the subscriber was lost before it had the packet
//!   (subscriber-hop losses), and the copy that finally delivered it was a
//!   retransmission B served from its cache, ÷ all subscriber-hop losses.
//! - `cache_bytes_max`: the larger of the two nodes' retransmission-cache
//!   peaks (each the sum of its streams' peaks; 0 without the shield).

mod options;
mod report;
mod world;

use sfu_core::{ForwardNacks, LossRecovery, Shield, ShieldConfig, ShieldStats};

pub use options::SimOptions;
pub use report::SimReport;
use world::World;

/// Runs one simulation.
pub fn run(opts: SimOptions) -> SimReport {
    if opts.shield {
        World::<Shield>::new(opts).run()
    } else {
        World::<ForwardNacks>::new(opts).run()
    }
}

/// The two loss-recovery hooks the simulation compares.
pub(crate) trait Recovery: LossRecovery + Sized {
    fn make() -> Self;
    fn shield_stats(&self) -> Option<ShieldStats>;
}

impl Recovery for Shield {
    fn make() -> Self {
        Shield::new(ShieldConfig::default()).expect("the default shield configuration is valid")
    }
    fn shield_stats(&self) -> Option<ShieldStats> {
        Some(self.stats())
    }
}

impl Recovery for ForwardNacks {
    fn make() -> Self {
        ForwardNacks
    }
    fn shield_stats(&self) -> Option<ShieldStats> {
        None
    }
}
