//! A subscriber's NACK for a packet the hop forwarded is answered from the
//! shield's cache: no NACK reaches the publisher.

mod shield_common;

use std::time::Duration;

use shield_common::ShieldCall;

#[test]
fn nack_for_a_forwarded_packet_is_answered_from_the_cache() {
    let mut call = ShieldCall::new(&[false, false]);
    for seq in 0..10 {
        call.send(seq, seq == 0);
        call.advance(Duration::from_millis(5));
    }
    let sent = call.drain();
    assert_eq!(sent.rtp_to(call.viewers[0].session).len(), 10);

    call.nack(0, &[4, 6]);
    let sent = call.drain();
    let viewer = call.viewers[0];
    let repairs = sent.rtp_to(viewer.session);
    let seqs: Vec<u16> = repairs.iter().map(|p| p.sequence_number).collect();
    assert_eq!(seqs, [4, 6]);
    assert_eq!(repairs[0].payload, ShieldCall::payload(4, false));
    assert!(
        sent.rtp_to(call.viewers[1].session).is_empty(),
        "only the viewer that asked gets a repair"
    );
    assert!(sent.nacked_to(call.publisher).is_empty());

    // Nothing is ever asked of the publisher afterwards either.
    let mut later = shield_common::Sent::default();
    call.run_for(
        Duration::from_secs(2),
        Duration::from_millis(10),
        &mut later,
    );
    assert!(later.nacked_to(call.publisher).is_empty());

    let stats = call.shield().stats();
    assert_eq!(stats.hop.responder.nacks_received, 2);
    assert_eq!(stats.hop.responder.cache_hits, 2);
    assert_eq!(stats.hop.responder.cache_misses, 0);
    assert_eq!(stats.hop.detector.nacks_sent, 0);
    assert_eq!(stats.repairs_sent, 2);
    assert!(stats.hop.cache_bytes_max >= 10 * 200);
    assert_eq!(call.router.stats().nacks_sent, 0);
    assert_eq!(call.router.stats().retransmissions_sent, 2);
}

#[test]
fn a_packet_older_than_the_cache_is_not_asked_upstream() {
    let mut call = ShieldCall::new(&[false]);
    for seq in 0..10 {
        call.send(seq, seq == 0);
    }
    // Past the cache's one-second age bound.
    call.advance(Duration::from_millis(1500));
    call.timeout();
    call.send(10, false);
    call.drain();
    call.nack(0, &[3]);
    let sent = call.drain();
    assert!(sent.rtp_to(call.viewers[0].session).is_empty());
    assert!(sent.nacked_to(call.publisher).is_empty());
    assert_eq!(call.shield().stats().hop.responder.cache_misses, 1);
}
