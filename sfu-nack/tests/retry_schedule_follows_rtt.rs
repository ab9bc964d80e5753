//! NACK retries for a packet are spaced by the hop's round-trip time (and a
//! quarter), with a floor; the RTT from an untrusted report is clamped.

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use sfu_nack::{DetectorConfig, LossDetector};

const MS: Duration = Duration::from_millis(1);

/// Times (since the gap) at which packet 2 is NACKed, over `span`.
fn nack_times(rtt: Duration, span: Duration) -> Vec<Duration> {
    let t0 = Instant::now();
    let config = DetectorConfig::default()
        .with_reorder_delay(5 * MS)
        .with_max_nacks_per_packet(4);
    let mut detector = LossDetector::new(config).unwrap();
    detector.set_rtt(rtt);
    detector.handle_packet(t0, 1);
    detector.handle_packet(t0, 3);
    let mut times = Vec::new();
    while let Some(wake) = detector.poll_timeout() {
        if wake - t0 > span {
            break;
        }
        detector.handle_timeout(wake);
        while let Some(pair) = detector.poll_nack(wake) {
            assert_eq!(pair.pid, 2);
            times.push(wake - t0);
        }
    }
    times
}

#[test]
fn retries_are_spaced_by_the_rtt() {
    let span = 900 * MS;
    assert_eq!(
        nack_times(40 * MS, span),
        [5 * MS, 55 * MS, 105 * MS, 155 * MS]
    );
    assert_eq!(
        nack_times(100 * MS, span),
        [5 * MS, 130 * MS, 255 * MS, 380 * MS]
    );
}

#[test]
fn retry_interval_has_a_floor() {
    // RTT 2 ms would retry every 2.5 ms; the 10 ms floor holds.
    assert_eq!(
        nack_times(2 * MS, 900 * MS),
        [5 * MS, 15 * MS, 25 * MS, 35 * MS]
    );
}

#[test]
fn rtt_changes_apply_to_the_next_retry() {
    let t0 = Instant::now();
    let config = DetectorConfig::default().with_reorder_delay(Duration::ZERO);
    let mut detector = LossDetector::new(config).unwrap();
    assert_eq!(detector.rtt(), config.initial_rtt);
    detector.handle_packet(t0, 1);
    detector.handle_packet(t0, 3);
    assert!(detector.poll_nack(t0).is_some());
    assert_eq!(detector.poll_timeout(), Some(t0 + 125 * MS));
    detector.set_rtt(20 * MS);
    assert!(detector.poll_nack(t0 + 125 * MS).is_some());
    assert_eq!(detector.poll_timeout(), Some(t0 + 150 * MS));
}

#[test]
fn absurd_rtt_is_clamped() {
    let mut detector = LossDetector::new(DetectorConfig::default()).unwrap();
    detector.set_rtt(Duration::from_secs(86_400));
    assert_eq!(detector.rtt(), DetectorConfig::default().give_up_after);
    detector.set_rtt(Duration::ZERO);
    assert_eq!(detector.rtt(), MS);
}
