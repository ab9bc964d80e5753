//! However many subscribers NACK a packet the cache lacks, upstream is asked
//! once; cached packets are answered locally and never asked upstream.

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_nack::{
    DetectorConfig, LossDetector, NackAnswer, RepairRequest, Responder, ResponderConfig,
    ResponderOutput,
};

const MS: Duration = Duration::from_millis(1);

fn drain(responder: &mut Responder<u32, Bytes>) -> Vec<ResponderOutput<u32, Bytes>> {
    std::iter::from_fn(|| responder.poll_output()).collect()
}

#[test]
fn twenty_subscribers_missing_one_packet_cause_one_upstream_request() {
    let t0 = Instant::now();
    let mut responder = Responder::new(ResponderConfig::default()).unwrap();
    responder.handle_packet(t0, 10, Bytes::from_static(b"ten"), 3);
    responder.handle_packet(t0, 12, Bytes::from_static(b"twelve"), 6);

    let mut answers = Vec::new();
    for subscriber in 0..20u32 {
        answers.push(responder.handle_nack(t0 + MS * subscriber, subscriber, 11));
        // Retries from the same subscriber change nothing.
        answers.push(responder.handle_nack(t0 + MS * subscriber, subscriber, 11));
    }
    assert_eq!(answers[0], NackAnswer::RequestedUpstream);
    assert!(answers[1..].iter().all(|a| *a == NackAnswer::Waiting));
    let outputs = drain(&mut responder);
    assert_eq!(outputs, [ResponderOutput::RequestUpstream { seq: 11 }]);
    assert_eq!(responder.waiters(11).len(), 20);

    let stats = responder.stats();
    assert_eq!(stats.nacks_received, 40);
    assert_eq!(stats.cache_misses, 40);
    assert_eq!(stats.upstream_requests, 1);
}

#[test]
fn cache_hits_are_answered_locally() {
    let t0 = Instant::now();
    let mut responder = Responder::new(ResponderConfig::default()).unwrap();
    for seq in 0..5u16 {
        responder.handle_packet(t0, seq, Bytes::from(vec![seq as u8]), 1);
    }
    for subscriber in 0..3u32 {
        assert_eq!(
            responder.handle_nack(t0, subscriber, 2),
            NackAnswer::Retransmitted
        );
    }
    let outputs = drain(&mut responder);
    assert_eq!(outputs.len(), 3);
    for (i, output) in outputs.into_iter().enumerate() {
        assert_eq!(
            output,
            ResponderOutput::Retransmit {
                subscriber: i as u32,
                seq: 2,
                packet: Bytes::from_static(&[2]),
            }
        );
    }
    assert_eq!(responder.stats().cache_hits, 3);
    assert_eq!(responder.stats().upstream_requests, 0);
}

#[test]
fn upstream_request_folds_into_the_detectors_own_nack() {
    // The node's own detector already saw the gap; the subscribers' request
    // brings its first NACK forward and adds none.
    let t0 = Instant::now();
    let config = DetectorConfig::default().with_reorder_delay(20 * MS);
    let mut detector = LossDetector::new(config).unwrap();
    let mut responder: Responder<u32, Bytes> = Responder::new(ResponderConfig::default()).unwrap();
    for seq in [1u16, 3] {
        detector.handle_packet(t0, seq);
        responder.handle_packet(t0, seq, Bytes::new(), 0);
    }
    for subscriber in 0..20 {
        responder.handle_nack(t0 + 2 * MS, subscriber, 2);
    }
    for output in drain(&mut responder) {
        let ResponderOutput::RequestUpstream { seq } = output else {
            panic!("unexpected {output:?}");
        };
        assert_eq!(
            detector.request_repair(t0 + 2 * MS, seq),
            RepairRequest::Pending
        );
    }
    let pair = detector.poll_nack(t0 + 2 * MS).unwrap();
    assert_eq!(pair.seqs().collect::<Vec<_>>(), [2]);
    assert_eq!(detector.poll_nack(t0 + 2 * MS), None);
    assert_eq!(detector.poll_nack(t0 + 20 * MS), None);
    assert_eq!(detector.stats().nacks_sent, 1);
    assert_eq!(
        detector.request_repair(t0, 1),
        RepairRequest::AlreadyReceived
    );
    assert_eq!(detector.request_repair(t0, 4), RepairRequest::NotYetSeen);
}

#[test]
fn waiting_requests_expire_and_can_be_made_again() {
    let t0 = Instant::now();
    let config = ResponderConfig::default().with_waiter_timeout(300 * MS);
    let mut responder: Responder<u32, Bytes> = Responder::new(config).unwrap();
    responder.handle_packet(t0, 1, Bytes::new(), 0);
    responder.handle_packet(t0, 3, Bytes::new(), 0);
    responder.handle_nack(t0, 1, 2);
    responder.handle_nack(t0, 2, 2);
    assert_eq!(responder.poll_timeout(), Some(t0 + 300 * MS));
    responder.handle_timeout(t0 + 299 * MS);
    assert_eq!(responder.waiters(2).len(), 2);
    responder.handle_timeout(t0 + 300 * MS);
    assert!(responder.waiters(2).is_empty());
    assert_eq!(responder.stats().waiters_expired, 2);
    assert_eq!(responder.poll_timeout(), None);
    // A fresh request asks upstream again.
    assert_eq!(
        responder.handle_nack(t0 + 301 * MS, 1, 2),
        NackAnswer::RequestedUpstream
    );
    assert_eq!(responder.stats().upstream_requests, 2);
}
