//! A packet retransmitted to a subscriber is not retransmitted to that
//! subscriber again for about one RTT (three quarters of its RTT once
//! known, at least 10 ms; 100 ms until then): the same number NACKed
//! several times in one compound, or again by the next compound, yields
//! one retransmission. Other subscribers have their own, and once the
//! interval has passed the packet goes again (a retransmission can be lost
//! too).

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_nack::{NackAnswer, Responder, ResponderConfig, ResponderOutput};

const MS: Duration = Duration::from_millis(1);

fn responder(t0: Instant) -> Responder<u8, Bytes> {
    let mut r = Responder::new(ResponderConfig::default()).unwrap();
    for seq in 0..100u16 {
        r.handle_packet(t0, seq, Bytes::from(vec![seq as u8; 1000]), 1000);
    }
    r
}

fn retransmits(r: &mut Responder<u8, Bytes>) -> Vec<(u8, u16)> {
    std::iter::from_fn(|| r.poll_output())
        .map(|o| match o {
            ResponderOutput::Retransmit {
                subscriber, seq, ..
            } => (subscriber, seq),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn the_same_packet_nacked_again_within_the_interval_goes_once() {
    let t0 = Instant::now();
    let mut r = responder(t0);
    // One compound naming 50 four times, as overlapping pairs do.
    let answers: Vec<_> = (0..4).map(|_| r.handle_nack(t0, 1, 50)).collect();
    assert_eq!(
        answers,
        [
            NackAnswer::Retransmitted,
            NackAnswer::Suppressed,
            NackAnswer::Suppressed,
            NackAnswer::Suppressed
        ]
    );
    assert_eq!(retransmits(&mut r), [(1, 50)]);
    // The next compounds, 50 and 99 ms later: the copy is still on its way.
    assert_eq!(r.handle_nack(t0 + 50 * MS, 1, 50), NackAnswer::Suppressed);
    assert_eq!(r.handle_nack(t0 + 99 * MS, 1, 50), NackAnswer::Suppressed);
    assert!(retransmits(&mut r).is_empty());
    // Another subscriber is not affected.
    assert_eq!(
        r.handle_nack(t0 + 50 * MS, 2, 50),
        NackAnswer::Retransmitted
    );
    assert_eq!(retransmits(&mut r), [(2, 50)]);
    // After the interval the packet goes again.
    assert_eq!(
        r.handle_nack(t0 + 100 * MS, 1, 50),
        NackAnswer::Retransmitted
    );
    assert_eq!(retransmits(&mut r), [(1, 50)]);

    let stats = r.stats();
    assert_eq!(stats.nacks_received, 8);
    assert_eq!(stats.cache_hits, 3);
    assert_eq!(stats.cache_hit_bytes, 3000);
    assert_eq!(stats.repeats_suppressed, 5);
    assert_eq!(stats.repairs_sent, 3);
}

#[test]
fn a_subscriber_that_left_and_a_new_one_start_afresh() {
    let t0 = Instant::now();
    let mut r = responder(t0);
    assert_eq!(r.handle_nack(t0, 1, 10), NackAnswer::Retransmitted);
    r.remove_subscriber(1);
    // Its state is reused for subscriber 3, which was never sent 10.
    assert_eq!(r.handle_nack(t0 + MS, 3, 10), NackAnswer::Retransmitted);
    assert_eq!(r.handle_nack(t0 + 2 * MS, 3, 10), NackAnswer::Suppressed);
    assert_eq!(retransmits(&mut r), [(1, 10), (3, 10)]);
}

#[test]
fn a_zero_interval_turns_the_check_off() {
    let t0 = Instant::now();
    let config = ResponderConfig::default().with_retransmit_interval(Duration::ZERO);
    let mut r: Responder<u8, Bytes> = Responder::new(config).unwrap();
    r.handle_packet(t0, 1, Bytes::from_static(b"p"), 1);
    for _ in 0..3 {
        assert_eq!(r.handle_nack(t0, 1, 1), NackAnswer::Retransmitted);
    }
}

#[test]
fn subscribers_with_state_are_bounded() {
    let t0 = Instant::now();
    let config = ResponderConfig::default().with_max_subscribers(2);
    let mut r: Responder<u8, Bytes> = Responder::new(config).unwrap();
    r.handle_packet(t0, 1, Bytes::from_static(b"p"), 1);
    let answers: Vec<_> = (0..3).map(|s| r.handle_nack(t0, s, 1)).collect();
    assert_eq!(
        answers,
        [
            NackAnswer::Retransmitted,
            NackAnswer::Retransmitted,
            NackAnswer::Dropped
        ]
    );
    assert_eq!(r.stats().requests_dropped, 1);
    // Room again once one leaves.
    r.remove_subscriber(0);
    assert_eq!(r.handle_nack(t0, 2, 1), NackAnswer::Retransmitted);
}

#[test]
fn a_known_rtt_paces_repeats_at_three_quarters_of_it() {
    let t0 = Instant::now();
    let mut r = responder(t0);
    // 40 ms round trip: repeats are refused for 30 ms.
    r.set_subscriber_rtt(1, 40 * MS);
    assert_eq!(r.handle_nack(t0, 1, 50), NackAnswer::Retransmitted);
    assert_eq!(r.handle_nack(t0 + 29 * MS, 1, 50), NackAnswer::Suppressed);
    assert_eq!(
        r.handle_nack(t0 + 30 * MS, 1, 50),
        NackAnswer::Retransmitted
    );
    // A claimed 2 ms round trip still collapses one compound's repeats,
    // for the 10 ms floor.
    r.set_subscriber_rtt(2, 2 * MS);
    assert_eq!(r.handle_nack(t0, 2, 50), NackAnswer::Retransmitted);
    assert_eq!(r.handle_nack(t0, 2, 50), NackAnswer::Suppressed);
    assert_eq!(r.handle_nack(t0 + 9 * MS, 2, 50), NackAnswer::Suppressed);
    assert_eq!(
        r.handle_nack(t0 + 10 * MS, 2, 50),
        NackAnswer::Retransmitted
    );
    // A long round trip waits longer than the 100 ms default.
    r.set_subscriber_rtt(3, 400 * MS);
    assert_eq!(r.handle_nack(t0, 3, 50), NackAnswer::Retransmitted);
    assert_eq!(r.handle_nack(t0 + 299 * MS, 3, 50), NackAnswer::Suppressed);
    assert_eq!(
        r.handle_nack(t0 + 300 * MS, 3, 50),
        NackAnswer::Retransmitted
    );
}
