//! A missing packet is NACKed until its deadline (or its NACK budget), then
//! given up and never NACKed again; a late arrival is reported as such.

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use sfu_nack::{Arrival, DetectorConfig, LossDetector};

const MS: Duration = Duration::from_millis(1);

fn config() -> DetectorConfig {
    DetectorConfig::default()
        .with_reorder_delay(Duration::ZERO)
        .with_min_retry_interval(MS)
        .with_give_up_after(200 * MS)
        .with_max_nacks_per_packet(100)
}

#[test]
fn missing_packet_is_given_up_at_its_deadline() {
    let t0 = Instant::now();
    let mut detector = LossDetector::new(config()).unwrap();
    detector.set_rtt(40 * MS);
    detector.handle_packet(t0, 1);
    detector.handle_packet(t0, 3);
    let mut nack_times = Vec::new();
    let mut now = t0;
    while let Some(wake) = detector.poll_timeout() {
        now = wake;
        assert_eq!(
            detector.handle_timeout(now),
            u64::from(now >= t0 + 200 * MS)
        );
        while let Some(pair) = detector.poll_nack(now) {
            assert_eq!(pair.pid, 2);
            nack_times.push(now - t0);
        }
    }
    // Every 50 ms (RTT 40 ms + a quarter) from 0, until 200 ms.
    assert_eq!(nack_times, [Duration::ZERO, 50 * MS, 100 * MS, 150 * MS]);
    assert_eq!(now, t0 + 200 * MS);
    assert_eq!(detector.stats().gave_ups, 1);
    assert_eq!(detector.missing_len(), 0);
    assert_eq!(detector.poll_nack(now + 50 * MS), None);
    assert_eq!(detector.handle_packet(now + 60 * MS, 2), Arrival::Late);
    assert_eq!(detector.stats().late, 1);
}

#[test]
fn nack_budget_stops_retries_before_the_deadline() {
    let t0 = Instant::now();
    let config = config().with_max_nacks_per_packet(2);
    let mut detector = LossDetector::new(config).unwrap();
    detector.set_rtt(8 * MS);
    detector.handle_packet(t0, 1);
    detector.handle_packet(t0, 3);
    let mut nacks = 0;
    for ms in 0..300u32 {
        let now = t0 + MS * ms;
        detector.handle_timeout(now);
        while detector.poll_nack(now).is_some() {
            nacks += 1;
        }
    }
    assert_eq!(nacks, 2);
    assert_eq!(detector.stats().nacks_sent, 2);
    assert_eq!(detector.stats().gave_ups, 1);
}

#[test]
fn an_overfull_missing_set_gives_up_its_oldest() {
    let t0 = Instant::now();
    let config = config().with_max_missing(8);
    let mut detector = LossDetector::new(config).unwrap();
    detector.handle_packet(t0, 0);
    detector.handle_packet(t0, 6); // 1..=5 missing
    detector.handle_packet(t0, 12); // 7..=11 missing: 1 and 2 pushed out
    assert_eq!(detector.missing_len(), 8);
    assert_eq!(detector.stats().gave_ups, 2);
    assert!(!detector.is_missing(2) && detector.is_missing(3));
    // A jump beyond the bound is a discontinuity: nothing is NACKed for it.
    assert_eq!(
        detector.handle_packet(t0, 30),
        Arrival::Discontinuity { skipped: 17 }
    );
    assert_eq!(detector.missing_len(), 0);
    assert_eq!(detector.poll_nack(t0 + 100 * MS), None);
}
