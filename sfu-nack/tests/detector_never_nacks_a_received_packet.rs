//! Randomised: over lossy, jittery, duplicating links with retransmissions
//! that can be lost too, the detector never NACKs a packet it was given,
//! never NACKs a number that was never sent, and NACKs every packet whose
//! original was lost.

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::time::{Duration, Instant};

use sfu_nack::{DetectorConfig, LossDetector};
use sfu_testkit::rng::Rng;

const US: Duration = Duration::from_micros(1);

fn run(seed: u64) {
    let mut rng = Rng::splitmix(seed);
    let t0 = Instant::now();
    let loss = 0.02 + rng.below_u64(20) as f64 / 100.0;
    let jitter_us = 1 + rng.below_u64(15_000);
    let one_way = Duration::from_millis(5 + rng.below_u64(50));
    let config =
        DetectorConfig::default().with_reorder_delay(Duration::from_millis(rng.below_u64(12)));
    let mut detector = LossDetector::new(config).unwrap();
    detector.set_rtt(one_way * 2);

    let first_seq = 65_536 - 1 - rng.below_u64(3000) as u32;
    let packets = 6000u32;
    // Arrivals at the detector: (time, tie-breaker, sequence number).
    let mut arrivals = BinaryHeap::new();
    let mut order = 0u64;
    let mut deliver = |rng: &mut Rng, arrivals: &mut BinaryHeap<_>, at: Duration, seq: u16| {
        if rng.chance_at_most(loss) {
            return false;
        }
        let copies = if rng.chance_at_most(0.02) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = one_way + US * rng.below_u64(jitter_us) as u32;
            order += 1;
            arrivals.push(Reverse((at + delay, order, seq)));
        }
        true
    };

    let mut received = HashSet::new();
    let mut nacked = HashSet::new();
    let mut original_lost = HashSet::new();
    let mut highest_delivered: Option<u32> = None;
    // Losses before the first arrival are invisible to any receiver.
    let mut first_delivered: Option<u32> = None;
    let send_interval = Duration::from_micros(2500);
    let mut next_send = 0u32;
    loop {
        let send_at = send_interval * next_send;
        let arrival_at = arrivals.peek().map(|Reverse((at, _, _))| *at);
        let timeout_at = detector.poll_timeout().map(|t| t - t0);
        let now = [
            (next_send < packets).then_some(send_at),
            arrival_at,
            timeout_at,
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(now) = now else { break };
        if now > send_interval * packets + Duration::from_secs(3) {
            break;
        }
        if next_send < packets && now == send_at {
            let seq = (first_seq + next_send) as u16;
            if !deliver(&mut rng, &mut arrivals, now, seq) {
                original_lost.insert(seq);
            }
            next_send += 1;
        } else if arrival_at == Some(now) {
            let Some(Reverse((_, _, seq))) = arrivals.pop() else {
                unreachable!()
            };
            detector.handle_packet(t0 + now, seq);
            received.insert(seq);
            let index = u32::from(seq.wrapping_sub(first_seq as u16));
            highest_delivered = highest_delivered.max(Some(index));
            first_delivered.get_or_insert(index);
        } else {
            detector.handle_timeout(t0 + now);
        }
        while let Some(pair) = detector.poll_nack(t0 + now) {
            for seq in pair.seqs() {
                let index = u32::from(seq.wrapping_sub(first_seq as u16));
                assert!(index < next_send, "seed {seed}: NACKed unsent {seq}");
                assert!(
                    !received.contains(&seq),
                    "seed {seed}: NACKed received {seq} at {now:?}"
                );
                nacked.insert(seq);
                // The sender answers with a repair over the same lossy path.
                deliver(&mut rng, &mut arrivals, now + one_way, seq);
            }
        }
    }
    let highest = highest_delivered.unwrap();
    let first = first_delivered.unwrap();
    for seq in &original_lost {
        let index = u32::from(seq.wrapping_sub(first_seq as u16));
        if first < index && index < highest {
            assert!(
                nacked.contains(seq),
                "seed {seed}: lost {seq} was never NACKed"
            );
        }
    }
    assert!(!nacked.is_empty());
    assert!(
        detector.stats().recovered > 0,
        "seed {seed}: nothing recovered"
    );
}

#[test]
fn detector_never_nacks_a_received_packet() {
    for seed in 1..=24 {
        run(seed);
    }
}
