//! One hop's statistics count each step of a recovery once: the loss seen
//! upstream, the NACK sent, the subscribers' NACKs, the cache hits and
//! misses, the repairs handed out, and the byte gauges.

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_nack::{
    Arrival, DetectorConfig, HopStats, LossDetector, Responder, ResponderConfig, ResponderOutput,
};

const MS: Duration = Duration::from_millis(1);

#[test]
fn one_loss_repaired_for_three_subscribers() {
    let t0 = Instant::now();
    let mut detector = LossDetector::new(DetectorConfig::default()).unwrap();
    let mut responder: Responder<u8, Bytes> = Responder::new(ResponderConfig::default()).unwrap();
    let payload = |seq: u16| Bytes::from(vec![seq as u8; 100]);

    // Upstream delivers 1..=5 without 3.
    for seq in [1u16, 2, 4, 5] {
        detector.handle_packet(t0, seq);
        responder.handle_packet(t0, seq, payload(seq), 100);
    }
    // Subscribers 0..3 all NACK 3; subscriber 0 also lost 2 on its own hop.
    for subscriber in 0..3u8 {
        responder.handle_nack(t0 + MS, subscriber, 3);
    }
    responder.handle_nack(t0 + MS, 0, 2);
    let mut upstream = Vec::new();
    while let Some(output) = responder.poll_output() {
        if let ResponderOutput::RequestUpstream { seq } = output {
            detector.request_repair(t0 + MS, seq);
            upstream.push(seq);
        }
    }
    assert_eq!(upstream, [3]);
    let nack: Vec<u16> = std::iter::from_fn(|| detector.poll_nack(t0 + MS))
        .flat_map(|pair| pair.seqs())
        .collect();
    assert_eq!(nack, [3]);

    // The repair arrives and fans out.
    assert_eq!(
        detector.handle_packet(t0 + 30 * MS, 3),
        Arrival::Filled { after_nack: true }
    );
    responder.handle_packet(t0 + 30 * MS, 3, payload(3), 100);
    assert_eq!(std::iter::from_fn(|| responder.poll_output()).count(), 3);

    let stats = HopStats::collect(&detector, &responder);
    assert_eq!(stats.detector.packets, 5);
    assert_eq!(stats.detector.losses_seen, 1);
    assert_eq!(stats.detector.nacks_sent, 1);
    assert_eq!(stats.detector.nack_pairs_sent, 1);
    assert_eq!(stats.detector.recovered, 1);
    assert_eq!(stats.detector.gave_ups, 0);
    assert_eq!(stats.responder.nacks_received, 4);
    assert_eq!(stats.responder.cache_hits, 1);
    assert_eq!(stats.responder.cache_misses, 3);
    assert_eq!(stats.responder.upstream_requests, 1);
    assert_eq!(stats.responder.repairs_sent, 4);
    assert_eq!(stats.cache_packets, 5);
    assert_eq!(stats.cache_bytes, 500);
    assert_eq!(stats.cache_bytes_max, 500);

    let mut total = HopStats::default();
    total.merge(&stats);
    total.merge(&stats);
    assert_eq!(total.responder.repairs_sent, 8);
    assert_eq!(total.detector.losses_seen, 2);
    assert_eq!(total.cache_bytes_max, 1000);
}
