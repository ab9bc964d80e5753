//! Sequence numbers wrap from 65535 to 0 without confusing the cache, the
//! detector or the responder.

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_nack::{
    Arrival, CacheConfig, CacheInsert, DetectorConfig, LossDetector, NackAnswer, NackPair,
    Responder, ResponderConfig, RetransmitCache, SeqUnwrapper,
};

const MS: Duration = Duration::from_millis(1);

#[test]
fn unwrapper_counts_cycles_across_the_wrap() {
    let mut u = SeqUnwrapper::new();
    let a = u.extend(65534);
    let b = u.extend(65535);
    let c = u.extend(0);
    let d = u.extend(1);
    assert_eq!([b - a, c - b, d - c], [1, 1, 1]);
    // A late packet from before the wrap is still older.
    assert_eq!(u.extend(65533), a - 1);
    assert_eq!(u.highest(), Some(d));
}

#[test]
fn detector_nacks_exactly_the_packet_lost_at_the_wrap() {
    let t0 = Instant::now();
    let mut detector = LossDetector::new(DetectorConfig::default()).unwrap();
    for seq in [65533u16, 65534, 65535, 1, 2] {
        detector.handle_packet(t0, seq);
    }
    let due = t0 + DetectorConfig::default().reorder_delay;
    assert_eq!(detector.poll_nack(due), Some(NackPair::new(0)));
    assert_eq!(detector.poll_nack(due), None);
    assert_eq!(detector.stats().losses_seen, 1);
}

#[test]
fn gap_spanning_the_wrap_is_packed_into_one_pair() {
    let t0 = Instant::now();
    let mut detector = LossDetector::new(DetectorConfig::default()).unwrap();
    assert_eq!(detector.handle_packet(t0, 65530), Arrival::First);
    assert_eq!(detector.handle_packet(t0, 3), Arrival::Gap { missing: 8 });
    // 65531..=65535 and 0..=2: pid 65531, then bits 0..=6.
    let pair = detector.poll_nack(t0 + 10 * MS).unwrap();
    assert_eq!(
        pair,
        NackPair {
            pid: 65531,
            blp: 0x007f
        }
    );
    assert_eq!(detector.poll_nack(t0 + 10 * MS), None);
}

#[test]
fn cache_serves_both_sides_of_the_wrap() {
    let t0 = Instant::now();
    let mut cache = RetransmitCache::new(CacheConfig::default()).unwrap();
    for (i, seq) in [65534u16, 65535, 0, 1].into_iter().enumerate() {
        let stored = cache.insert(t0, seq, Bytes::from(vec![i as u8; 10]), 10);
        assert!(matches!(stored, CacheInsert::Stored(_)));
    }
    assert_eq!(cache.get(t0, 65535).map(|p| p[0]), Some(1));
    assert_eq!(cache.get(t0, 0).map(|p| p[0]), Some(2));
    assert_eq!(cache.get(t0, 2), None);
    assert_eq!(cache.get(t0, 65533), None);
}

#[test]
fn responder_keys_requests_across_the_wrap() {
    let t0 = Instant::now();
    let mut responder: Responder<u32, Bytes> = Responder::new(ResponderConfig::default()).unwrap();
    responder.handle_packet(t0, 65535, Bytes::from_static(b"a"), 1);
    responder.handle_packet(t0, 1, Bytes::from_static(b"c"), 1);
    assert_eq!(
        responder.handle_nack(t0, 7, 65535),
        NackAnswer::Retransmitted
    );
    assert_eq!(
        responder.handle_nack(t0, 7, 0),
        NackAnswer::RequestedUpstream
    );
    assert_eq!(responder.handle_nack(t0, 7, 2), NackAnswer::Ignored);
}
