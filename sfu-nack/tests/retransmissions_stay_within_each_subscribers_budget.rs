//! Each subscriber's retransmissions come out of a byte budget: a burst
//! (64 KiB) to start with, refilled by a quarter of the bytes the track
//! stores. A subscriber that asks for everything gets the burst and then
//! a quarter of the stream; another subscriber's budget is its own; and a
//! subscriber losing 5 % of the stream is never refused.

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_nack::{NackAnswer, Responder, ResponderConfig, ResponderOutput};

const MS: Duration = Duration::from_millis(1);
const SIZE: usize = 1000;
const BURST: usize = 64 * 1024;

/// Bytes retransmitted to each of subscribers 0 and 1.
fn drain(r: &mut Responder<u8, Bytes>, sent: &mut [usize; 2]) {
    while let Some(o) = r.poll_output() {
        if let ResponderOutput::Retransmit {
            subscriber, packet, ..
        } = o
        {
            sent[usize::from(subscriber)] += packet.len();
        }
    }
}

#[test]
fn a_greedy_subscriber_gets_the_burst_and_a_quarter_of_the_stream() {
    let t0 = Instant::now();
    let mut r: Responder<u8, Bytes> = Responder::new(ResponderConfig::default()).unwrap();
    let mut sent = [0usize; 2];
    let mut stored = 0usize;
    // 400 packets/s for 5 s; subscriber 0 asks for the 100 newest packets
    // every 10 ms (from the start, some not yet sent), subscriber 1 for one
    // packet in 20.
    for i in 0..2000u32 {
        let now = t0 + 2500 * Duration::from_micros(1) * i;
        let seq = i as u16;
        r.handle_packet(now, seq, Bytes::from(vec![7; SIZE]), SIZE);
        stored += SIZE;
        if i % 4 == 0 {
            for back in 0..100u16 {
                r.handle_nack(now, 0, seq.wrapping_sub(back));
            }
        }
        if i % 20 == 10 {
            assert_eq!(
                r.handle_nack(now, 1, seq.wrapping_sub(3)),
                NackAnswer::Retransmitted,
                "the honest subscriber is never refused"
            );
        }
        drain(&mut r, &mut sent);
    }
    let stats = *r.stats();
    println!("{sent:?} bytes to the two subscribers of {stored} stored; {stats:?}");
    let budget = BURST + stored / 4;
    assert!(sent[0] <= budget, "{} > {budget}", sent[0]);
    // It got what the budget allows, to a packet (and the share of the
    // last three packets, stored after its last NACK).
    assert!(sent[0] + 2 * SIZE > budget, "{} < {budget}", sent[0]);
    assert_eq!(sent[1], 100 * SIZE);
    assert!(stats.budget_refused > 0);
    assert!(stats.repeats_suppressed > 0);
    assert_eq!(
        stats.cache_hit_bytes,
        (sent[0] + sent[1]) as u64,
        "cache_hit_bytes counts what was sent"
    );
}

#[test]
fn a_spent_budget_refills_with_the_stream() {
    let t0 = Instant::now();
    let config = ResponderConfig::default()
        .with_retransmit_burst_bytes(2 * SIZE)
        .with_retransmit_share_percent(50);
    let mut r: Responder<u8, Bytes> = Responder::new(config).unwrap();
    for seq in 0..10u16 {
        r.handle_packet(t0, seq, Bytes::from(vec![7; SIZE]), SIZE);
    }
    assert_eq!(r.handle_nack(t0, 0, 1), NackAnswer::Retransmitted);
    assert_eq!(r.handle_nack(t0, 0, 2), NackAnswer::Retransmitted);
    assert_eq!(r.handle_nack(t0, 0, 3), NackAnswer::OverBudget);
    // Two more packets stored: half of them refills one packet's worth.
    r.handle_packet(t0 + MS, 10, Bytes::from(vec![7; SIZE]), SIZE);
    r.handle_packet(t0 + MS, 11, Bytes::from(vec![7; SIZE]), SIZE);
    assert_eq!(r.handle_nack(t0 + MS, 0, 3), NackAnswer::Retransmitted);
    assert_eq!(r.handle_nack(t0 + MS, 0, 4), NackAnswer::OverBudget);
    assert_eq!(r.stats().budget_refused, 2);
}
