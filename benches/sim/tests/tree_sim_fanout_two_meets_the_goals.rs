//! The cascading tree's goals (10 nodes, 1 000 viewers, 5 % loss on every
//! hop each way, 10 s, fanout K = 2), over the first four seeds, with the
//! simulator's own metrics; and what a run with a startup stall achieves
//! (seed 22, see `a_node_that_loses_its_first_packet_waits_for_a_keyframe`).

use std::sync::OnceLock;
use std::thread;

use sfu_sim::tree_sim as sim;
use sfu_sim::tree_sim::{TreeOptions, TreeReport};

const K: usize = 2;
const SEEDS: [u64; 4] = [1, 2, 3, 4];

fn options(seed: u64) -> TreeOptions {
    TreeOptions {
        seed,
        fanout: K,
        ..TreeOptions::default()
    }
}

/// The goal seeds, then the stall seed, two at a time.
fn runs() -> &'static Vec<TreeReport> {
    static RUNS: OnceLock<Vec<TreeReport>> = OnceLock::new();
    RUNS.get_or_init(|| {
        let seeds: Vec<u64> = SEEDS.iter().copied().chain([STALL_SEED]).collect();
        seeds
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
    &runs()[..SEEDS.len()]
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

/// On 2 of the 21 seeds measured (1–20 and 22: seeds 9 and 22) the goal
/// is missed at 0.989 and 0.987, not by the hop-by-hop repair but by a
/// node's start: the first packet a node receives of the video stream is
/// the start of the keyframe its subscription begins at; when that packet
/// is lost on the hop, the node's shield cannot NACK it (its detector has
/// nothing earlier to see a gap after), so the node waits for a new
/// keyframe. Its keyframe request crosses lossy hops one PLI at a time
/// and each router sends at most one per layer per 500 ms, so on seed 22
/// node 3 (depth 2) and node 7 below it show no video until ~1.9 s, past
/// the 1 s warm-up. What such a run honestly achieves is asserted here.
const STALL_SEED: u64 = 22;

#[test]
fn a_node_that_loses_its_first_packet_waits_for_a_keyframe() {
    let r = &runs()[SEEDS.len()];
    assert_eq!(r.seed, STALL_SEED);
    let late = r
        .first_video_ms
        .iter()
        .filter(|t| t.is_some_and(|ms| ms > 1000.0))
        .count();
    assert!(late >= 1, "{:?}", r.first_video_ms);
    assert!(
        r.delivered_within_deadline >= 0.985,
        "{} delivered within 250 ms",
        r.delivered_within_deadline
    );
    // The stall, not the repair: the origin's viewers and depth 1 are
    // unaffected, and the rest of each goal holds.
    assert!(r.delivered_within_deadline_by_depth[0] >= 0.995);
    assert!(r.delivered_within_deadline_by_depth[1] >= 0.995);
    assert!(r.publisher_nacks_per_publisher_loss <= 1.05);
    assert!(r.origin_relay_media_copies <= K as f64);
    assert_eq!(r.relay_children_max, K);
}
