//! Whatever a peer sends (NACK floods, absurd sequence jumps), state stays
//! within its configured bounds and refusals are counted.

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_nack::{DetectorConfig, Error, LossDetector, NackAnswer, Responder, ResponderConfig};

const MS: Duration = Duration::from_millis(1);

#[test]
fn nack_flood_is_bounded_by_the_output_queue() {
    let t0 = Instant::now();
    let config = ResponderConfig::default().with_max_queued_outputs(100);
    let mut responder: Responder<u32, Bytes> = Responder::new(config).unwrap();
    for seq in 0..512u16 {
        responder.handle_packet(t0, seq, Bytes::from_static(b"p"), 1);
    }
    // Every 16-bit number, from one subscriber, without draining.
    for seq in 0..=u16::MAX {
        responder.handle_nack(t0, 1, seq);
    }
    let queued = std::iter::from_fn(|| responder.poll_output()).count();
    assert_eq!(queued, 100);
    let stats = responder.stats();
    assert_eq!(stats.nacks_received, 65536);
    assert_eq!(stats.repairs_sent, 100);
    assert!(stats.requests_dropped > 0);
    assert!(stats.nacks_ignored > 0);
}

#[test]
fn waiters_per_packet_are_bounded() {
    let t0 = Instant::now();
    let config = ResponderConfig::default().with_max_waiters_per_packet(3);
    let mut responder: Responder<u32, Bytes> = Responder::new(config).unwrap();
    responder.handle_packet(t0, 1, Bytes::new(), 0);
    responder.handle_packet(t0, 3, Bytes::new(), 0);
    let answers: Vec<_> = (0..5).map(|s| responder.handle_nack(t0, s, 2)).collect();
    assert_eq!(
        answers,
        [
            NackAnswer::RequestedUpstream,
            NackAnswer::Waiting,
            NackAnswer::Waiting,
            NackAnswer::Dropped,
            NackAnswer::Dropped,
        ]
    );
    assert_eq!(responder.waiters(2), [0, 1, 2]);
}

#[test]
fn alternating_jumps_keep_the_missing_set_bounded() {
    let t0 = Instant::now();
    let mut detector = LossDetector::new(DetectorConfig::default()).unwrap();
    let mut seq = 0u16;
    for i in 0..10_000u32 {
        seq = seq.wrapping_add(if i % 2 == 0 { 511 } else { 30_000 });
        detector.handle_packet(t0 + MS * i, seq);
        assert!(detector.missing_len() <= 512);
        while detector.poll_nack(t0 + MS * i).is_some() {}
    }
    assert!(detector.stats().discontinuities > 0);
}

#[test]
fn detector_bound_is_validated() {
    let err = LossDetector::new(DetectorConfig::default().with_max_missing(40_000)).err();
    assert_eq!(err, Some(Error::MissingSetOutOfRange { requested: 40_000 }));
}
