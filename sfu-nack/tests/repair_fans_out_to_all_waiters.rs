//! When a repair arrives from upstream, every subscriber still waiting for
//! it gets it, once; later NACKs are answered from the cache.

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_nack::{CacheInsert, NackAnswer, Responder, ResponderConfig, ResponderOutput};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Packet {
    seq: u16,
    payload: Bytes,
}

#[test]
fn repair_goes_to_every_waiter_except_those_who_left() {
    let t0 = Instant::now();
    let mut responder = Responder::new(ResponderConfig::default()).unwrap();
    let packet = |seq: u16| Packet {
        seq,
        payload: Bytes::from(vec![seq as u8; 1000]),
    };
    responder.handle_packet(t0, 500, packet(500), 1000);
    responder.handle_packet(t0, 502, packet(502), 1000);
    for subscriber in 0..5u8 {
        responder.handle_nack(t0 + MS, subscriber, 501);
    }
    responder.remove_subscriber(3);
    while responder.poll_output().is_some() {}

    let repaired = packet(501);
    assert!(matches!(
        responder.handle_packet(t0 + 40 * MS, 501, repaired.clone(), 1000),
        CacheInsert::Stored(_)
    ));
    let outputs: Vec<_> = std::iter::from_fn(|| responder.poll_output()).collect();
    let subscribers: Vec<u8> = outputs
        .iter()
        .map(|o| match o {
            ResponderOutput::Retransmit {
                subscriber,
                seq,
                packet,
            } => {
                assert_eq!(*seq, 501);
                assert_eq!(packet, &repaired);
                // Zero-copy: the repair shares the stored payload.
                assert_eq!(packet.payload.as_ptr(), repaired.payload.as_ptr());
                *subscriber
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(subscribers, [0, 1, 2, 4]);
    assert!(responder.waiters(501).is_empty());
    assert_eq!(responder.stats().repairs_sent, 4);

    // A duplicate of the repair fans out nothing more.
    assert_eq!(
        responder.handle_packet(t0 + 41 * MS, 501, packet(501), 1000),
        CacheInsert::Duplicate
    );
    assert!(responder.poll_output().is_none());
    // A late asker is served from the cache.
    assert_eq!(
        responder.handle_nack(t0 + 50 * MS, 9, 501),
        NackAnswer::Retransmitted
    );
    // The waiter's timeout no longer drops anything.
    responder.handle_timeout(t0 + 5000 * MS);
    assert_eq!(responder.stats().waiters_expired, 0);
}
