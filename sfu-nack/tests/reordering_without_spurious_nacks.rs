//! Packets that arrive out of order, within the reorder delay, are not
//! NACKed.

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use sfu_nack::{Arrival, DetectorConfig, LossDetector};

const MS: Duration = Duration::from_millis(1);

#[test]
fn swapped_neighbours_are_not_nacked() {
    let t0 = Instant::now();
    let config = DetectorConfig::default().with_reorder_delay(10 * MS);
    let mut detector = LossDetector::new(config).unwrap();
    // Pairs swapped, each late one arriving 2 ms after its successor.
    let order = [0u16, 2, 1, 4, 3, 6, 5, 8, 7, 9];
    for (i, seq) in order.into_iter().enumerate() {
        let now = t0 + 2 * MS * i as u32;
        detector.handle_packet(now, seq);
        assert_eq!(detector.poll_nack(now), None, "at seq {seq}");
    }
    let later = t0 + 2 * 1000 * MS;
    assert_eq!(detector.poll_nack(later), None);
    assert_eq!(detector.poll_timeout(), None);
    let stats = detector.stats();
    assert_eq!(stats.losses_seen, 4);
    assert_eq!(stats.reordered, 4);
    assert_eq!(stats.nacks_sent, 0);
}

#[test]
fn reordered_packet_reports_filled_without_nack() {
    let t0 = Instant::now();
    let mut detector = LossDetector::new(DetectorConfig::default()).unwrap();
    detector.handle_packet(t0, 10);
    assert_eq!(detector.handle_packet(t0, 13), Arrival::Gap { missing: 2 });
    assert!(detector.is_missing(11) && detector.is_missing(12));
    assert_eq!(
        detector.handle_packet(t0 + MS, 12),
        Arrival::Filled { after_nack: false }
    );
    // Only 11 is still missing, and only it is NACKed once the delay passes.
    let pair = detector.poll_nack(t0 + 5 * MS).unwrap();
    assert_eq!(pair.seqs().collect::<Vec<_>>(), [11]);
}

#[test]
fn nack_waits_for_the_reorder_delay() {
    let t0 = Instant::now();
    let config = DetectorConfig::default().with_reorder_delay(8 * MS);
    let mut detector = LossDetector::new(config).unwrap();
    detector.handle_packet(t0, 1);
    detector.handle_packet(t0, 3);
    assert_eq!(detector.poll_timeout(), Some(t0 + 8 * MS));
    assert_eq!(detector.poll_nack(t0 + 7 * MS), None);
    assert!(detector.poll_nack(t0 + 8 * MS).is_some());
}
