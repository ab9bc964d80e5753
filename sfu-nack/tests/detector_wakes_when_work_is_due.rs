//! Randomised: the detector's `poll_timeout` is cheap (it keeps a bound on
//! its next NACK instead of walking the missing set) yet never late and
//! never stuck: whenever a NACK or a give-up becomes due, the deadline it
//! last reported had passed; and once `poll_nack` is drained, the next
//! deadline lies in the future, so a driver never spins.

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use sfu_nack::{DetectorConfig, DetectorStats, LossDetector};
use sfu_testkit::rng::Rng;

const MS: Duration = Duration::from_millis(1);

fn run(seed: u64) -> DetectorStats {
    let mut rng = Rng::splitmix(seed);
    let t0 = Instant::now();
    let config = DetectorConfig::default()
        .with_reorder_delay(MS * rng.below_u64(8) as u32)
        .with_max_nacks_per_packet(1 + rng.below_u64(6) as u32)
        .with_give_up_after(MS * (100 + rng.below_u64(900)) as u32);
    let mut detector = LossDetector::new(config).unwrap();
    detector.set_rtt(MS * (5 + rng.below_u64(150)) as u32);
    let loss = 0.02 + rng.below_u64(30) as f64 / 100.0;
    let mut seq = rng.next_u32() as u16;
    let mut lost = Vec::new();
    let mut deadline: Option<Instant> = None;
    for step in 0..5000u32 {
        let now = t0 + MS * step;
        // Timers first, as a driver runs them: anything due now must have
        // been announced by the last deadline.
        let gave_up = detector.handle_timeout(now);
        let mut nacked = 0;
        while let Some(pair) = detector.poll_nack(now) {
            nacked += pair.len();
        }
        if gave_up > 0 || nacked > 0 {
            assert!(
                deadline.is_some_and(|d| d <= now),
                "seed {seed} step {step}: {gave_up} give-ups, {nacked} NACKs due, deadline {:?}",
                deadline.map(|d| d - t0)
            );
        }
        // A packet most milliseconds; some lost, some repaired late, and
        // now and then a downstream hop asking for one.
        if rng.chance(0.7) {
            seq = seq.wrapping_add(1);
            if rng.chance_at_most(loss) {
                lost.push(seq);
            } else {
                detector.handle_packet(now, seq);
            }
        }
        if !lost.is_empty() && rng.chance(0.05) {
            let repaired = lost.swap_remove(rng.below(lost.len()));
            detector.handle_packet(now, repaired);
        }
        if !lost.is_empty() && rng.chance(0.02) {
            detector.request_repair(now, lost[rng.below(lost.len())]);
        }
        while detector.poll_nack(now).is_some() {}
        deadline = detector.poll_timeout();
        assert!(
            deadline.is_none_or(|d| d > now),
            "seed {seed} step {step}: deadline {:?} not after now after a drain",
            deadline.map(|d| d - t0)
        );
        assert_eq!(
            deadline.is_none(),
            detector.missing_len() == 0,
            "seed {seed} step {step}: a deadline exactly while packets are missing"
        );
    }
    *detector.stats()
}

#[test]
fn deadlines_are_never_late_and_never_in_the_past() {
    let (mut nacks, mut gave_ups) = (0, 0);
    for seed in 0..40 {
        let stats = run(seed);
        nacks += stats.nacks_sent;
        gave_ups += stats.gave_ups;
    }
    // Both kinds of deadline were exercised.
    assert!(
        nacks > 1000 && gave_ups > 100,
        "{nacks} NACKs, {gave_ups} give-ups"
    );
}
