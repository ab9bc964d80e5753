//! Twenty subscribers NACK the same packet lost on the publisher leg: the
//! publisher is asked once, and the repair reaches each subscriber exactly
//! once (the router's fan-out, not a retransmission on top).

mod shield_common;

use std::time::Duration;

use shield_common::{Sent, ShieldCall};

#[test]
fn twenty_nacks_make_one_upstream_request_and_one_repair_each() {
    let mut call = ShieldCall::new(&[true; 20]);
    for seq in (0..20).filter(|s| *s != 10) {
        call.send(seq, seq == 0);
        call.advance(Duration::from_millis(1));
    }
    let mut sent = Sent::default();
    call.drain_into(&mut sent);
    for i in 0..20 {
        call.nack(i, &[10]);
        call.drain_into(&mut sent);
    }
    call.run_for(
        Duration::from_millis(40),
        Duration::from_millis(1),
        &mut sent,
    );
    assert_eq!(sent.nacked_to(call.publisher), [10], "one request upstream");

    call.send_rtx(0, 10);
    // A second copy of the repair (e.g. a crossing retry) is dropped.
    call.send_rtx(1, 10);
    call.run_for(
        Duration::from_millis(300),
        Duration::from_millis(5),
        &mut sent,
    );

    for v in &call.viewers {
        let got: Vec<u16> = sent
            .rtp_to(v.session)
            .iter()
            .map(|p| p.rtx_osn.unwrap_or(p.sequence_number))
            .collect();
        assert_eq!(got.iter().filter(|s| **s == 10).count(), 1, "{got:?}");
        assert_eq!(got.len(), 20, "every packet exactly once: {got:?}");
    }
    assert_eq!(
        sent.nacked_to(call.publisher),
        [10],
        "no retry after the repair"
    );

    let stats = call.shield().stats();
    assert_eq!(stats.hop.responder.nacks_received, 20);
    assert_eq!(stats.hop.responder.upstream_requests, 1);
    assert_eq!(stats.hop.detector.losses_seen, 1);
    assert_eq!(stats.hop.detector.recovered, 1);
    assert_eq!(stats.repairs_forwarded, 20);
    assert_eq!(stats.repairs_sent, 0);
    assert_eq!(stats.duplicates_dropped, 1);
    assert_eq!(stats.rtt_samples, 1);
}
