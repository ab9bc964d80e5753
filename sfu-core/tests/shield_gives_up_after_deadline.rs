//! A packet the publisher never repairs is NACKed at most
//! `max_nacks_per_packet` times and given up at its deadline; subscribers
//! asking for it afterwards do not restart the requests.

mod shield_common;

use std::time::Duration;

use sfu_core::LossRecovery;
use shield_common::{Sent, ShieldCall};

#[test]
fn an_unrepaired_loss_is_given_up_at_its_deadline() {
    let mut call = ShieldCall::new(&[false, false]);
    for seq in [0, 1, 3] {
        call.send(seq, seq == 0);
    }
    let mut sent = Sent::default();
    call.drain_into(&mut sent);
    call.nack(0, &[2]);
    // Keep the stream flowing so the cache and detector move on.
    for i in 0..120u16 {
        call.advance(Duration::from_millis(10));
        call.timeout();
        call.send(4 + i, false);
        call.drain_into(&mut sent);
    }
    let nacked = sent.nacked_to(call.publisher);
    assert!(nacked.iter().all(|&s| s == 2), "{nacked:?}");
    // 1 s deadline, 125 ms retry interval: the first NACK and 7 retries.
    assert_eq!(nacked.len(), 8, "{nacked:?}");
    let stats = call.shield().stats();
    assert_eq!(stats.hop.detector.gave_ups, 1);
    assert_eq!(stats.hop.detector.nacks_sent, 8);

    call.nack(1, &[2]);
    let mut later = Sent::default();
    call.drain_into(&mut later);
    // Its wait is dropped after the responder's one-second timeout.
    call.run_for(
        Duration::from_millis(1100),
        Duration::from_millis(10),
        &mut later,
    );
    assert!(later.nacked_to(call.publisher).is_empty());
    assert!(later.rtp_to(call.viewers[1].session).is_empty());
    assert_eq!(call.shield().poll_timeout(), None);
}
