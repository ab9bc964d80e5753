//! The cascading tree's goals (10 nodes, 1 000 viewers, 5 % loss on every
//! hop each way, 10 s, fanout K = 2), with the simulator's own metrics,
//! over the first four seeds and the two (9 and 22) that once stalled a
//! node's start: the first packet of the keyframe a node's subscription
//! began at was lost on its hop, which its shield cannot NACK (nothing
//! earlier to see a gap after), and its keyframe request then crossed
//! lossy hops at most once per 500 ms per router, so nodes showed no video
//! until ~1.9 s (0.989 and 0.987 within 250 ms). Routers now retry an
//! unanswered keyframe request after half the interval (seeds 1–24: all
//! ≥ 0.9983).

use std::sync::OnceLock;
use std::thread;

use sfu_sim::tree_sim as sim;
use sfu_sim::tree_sim::{TreeOptions, TreeReport};

const K: usize = 2;
const SEEDS: [u64; 6] = [1, 2, 3, 4, 9, 22];

fn options(seed: u64) -> TreeOptions {
    TreeOptions {
        seed,
        fanout: K,
        ..TreeOptions::default()
    }
}

/// The goal seeds, two at a time.
fn runs() -> &'static Vec<TreeReport> {
    static RUNS: OnceLock<Vec<TreeReport>> = OnceLock::new();
    RUNS.get_or_init(|| {
        SEEDS
            .chunks(2)
            .flat_map(|pair| {
                thread::scope(|s| {
                    let handles: Vec<_> = pair
                        .iter()
                        .map(|&seed| s.spawn(move || sim::run(options(seed))))
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().expect("a run"))
                        .collect::<Vec<_>>()
                })
            })
            .collect()
    })
}

fn goal_runs() -> &'static [TreeReport] {
    runs()
}

#[test]
fn the_scenario_is_the_full_one() {
    let o = TreeOptions::default();
    assert_eq!(
        (o.nodes, o.viewers, o.loss, o.seconds),
        (10, 1000, 0.05, 10)
    );
    for r in goal_runs() {
        assert!(r.media_packets > 1500, "seed {}: {r:?}", r.seed);
    }
}

#[test]
fn delivered_within_250_ms_is_at_least_99_5_percent() {
    for r in goal_runs() {
        assert!(
            r.delivered_within_deadline >= 0.995,
            "seed {}: {} delivered within 250 ms (by depth {:?})",
            r.seed,
            r.delivered_within_deadline,
            r.delivered_within_deadline_by_depth
        );
        assert!(r.delivered_eventually >= r.delivered_within_deadline);
    }
}

#[test]
fn the_publisher_is_asked_about_each_loss_about_once() {
    for r in goal_runs() {
        assert!(r.publisher_losses > 50, "seed {}: {r:?}", r.seed);
        assert!(
            r.publisher_nacks_per_publisher_loss <= 1.05,
            "seed {}: {} distinct NACKed per loss ({} / {})",
            r.seed,
            r.publisher_nacks_per_publisher_loss,
            r.publisher_nacked_distinct,
            r.publisher_losses
        );
        // Nine nodes below the origin, yet nearly every loss is asked
        // for once: only the origin's shield NACKs the publisher.
        assert!(
            r.publisher_nacks_per_publisher_loss >= 0.95,
            "seed {}: {r:?}",
            r.seed
        );
    }
}

#[test]
fn the_origin_sends_k_copies_plus_retransmissions() {
    for r in goal_runs() {
        // Originals: one copy per child, never more. A little less when a
        // child's subscription starts late (at its first keyframe): over
        // seeds 1–20, 1.972–2.0.
        assert!(
            r.origin_relay_media_copies <= K as f64,
            "seed {}: {} copies of the stream without retransmissions",
            r.seed,
            r.origin_relay_media_copies
        );
        assert!(r.origin_relay_media_copies > K as f64 - 0.1, "{r:?}");
        let total = r.origin_relay_media_copies + r.origin_relay_retransmission_overhead;
        assert!((r.origin_relay_copies - total).abs() < 1e-9, "{r:?}");
        // Retransmissions answer the children's NACKs: ~5 % losses per
        // link plus lost repairs, and needless ones for packets the origin
        // itself was missing (see the crate README); 0.17–0.24 measured.
        assert!(
            r.origin_relay_retransmission_overhead <= 0.3,
            "seed {}: retransmission overhead {}",
            r.seed,
            r.origin_relay_retransmission_overhead
        );
        assert!(r.origin_relay_needless_retransmissions <= r.origin_relay_retransmission_overhead);
        assert!(r.origin_relay_packet_copies < K as f64 + 0.3, "{r:?}");
    }
}

#[test]
fn no_node_relays_to_more_than_k_children() {
    for r in goal_runs() {
        assert_eq!(r.relay_children.len(), 10);
        assert_eq!(
            r.relay_children_max, K,
            "seed {}: {:?}",
            r.seed, r.relay_children
        );
        // Every node but the origin hangs below one parent.
        assert_eq!(r.relay_children.iter().sum::<usize>(), 9);
        assert!(
            r.relay_copies_max <= K as f64,
            "seed {}: {:?}",
            r.seed,
            r.relay_copies
        );
    }
}

#[test]
fn the_tree_is_deeper_than_a_star() {
    for r in goal_runs() {
        assert!(r.depth >= 2, "seed {}: {:?}", r.seed, r.parents);
        // 1 + 2 + 4 + 2 nodes per level: the shallowest room first.
        assert_eq!(r.depth, 3);
        assert_eq!(r.delivered_within_deadline_by_depth.len(), 4);
        assert!(r.keyframe_requests_per_second.is_finite());
    }
}

#[test]
fn every_node_starts_its_video_within_the_warm_up() {
    for r in goal_runs() {
        assert!(
            r.first_video_ms
                .iter()
                .all(|t| t.is_some_and(|ms| ms < 1000.0)),
            "seed {}: {:?}",
            r.seed,
            r.first_video_ms
        );
    }
}
