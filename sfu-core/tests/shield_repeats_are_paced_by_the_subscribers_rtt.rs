//! The shield paces repeated retransmissions of a packet to a subscriber by
//! that subscriber's round trip, as the router measures it from receiver
//! reports about our sender reports: with a 20 ms RTT, a repeat NACK 15 ms
//! after the retransmission is answered again (the copy can have been
//! lost), one 14 ms after is not; before any report, 100 ms applies.

mod shield_common;

use std::time::Duration;

use bytes::Bytes;
use sfu_testkit::rtp::{ReportBlock, Rtcp};
use shield_common::{MEDIA_SSRC, ShieldCall};

const MS: Duration = Duration::from_millis(1);

fn retransmissions(call: &mut ShieldCall, viewer: usize) -> usize {
    let session = call.viewers[viewer].session;
    call.drain().rtp_to(session).len()
}

#[test]
fn a_measured_rtt_replaces_the_100_ms_default() {
    let mut call = ShieldCall::new(&[false, false]);
    for seq in 0..10 {
        call.send(seq, seq == 0);
    }
    call.drain();

    // Before any report: 100 ms.
    call.nack(0, &[5]);
    assert_eq!(retransmissions(&mut call, 0), 1);
    call.advance(99 * MS);
    call.nack(0, &[5]);
    assert_eq!(retransmissions(&mut call, 0), 0);
    call.advance(MS);
    call.nack(0, &[5]);
    assert_eq!(retransmissions(&mut call, 0), 1);

    // Viewer 1 reports on our SR 20 ms after we sent it, having held it
    // for nothing: RTT 20 ms.
    let ntp = 0x0000_0010_0002_0000u64;
    let sr = Rtcp::new().sr(MEDIA_SSRC, ntp, 0).bytes();
    call.router
        .handle_rtcp(call.now, call.publisher, sr)
        .unwrap();
    call.drain();
    call.advance(20 * MS);
    let viewer = call.viewers[1];
    let block = ReportBlock {
        lsr: (ntp >> 16) as u32,
        ..ReportBlock::new(viewer.ssrc)
    };
    let rr: Bytes = Rtcp::new().rr(0x9001, &[block]).bytes();
    call.router
        .handle_rtcp(call.now, viewer.session, rr)
        .unwrap();
    assert_eq!(call.router.session_rtt(viewer.session), Some(20 * MS));

    call.nack(1, &[6]);
    assert_eq!(retransmissions(&mut call, 1), 1);
    call.advance(14 * MS);
    call.nack(1, &[6]);
    assert_eq!(retransmissions(&mut call, 1), 0, "within 3/4 of its RTT");
    call.advance(MS);
    call.nack(1, &[6]);
    assert_eq!(retransmissions(&mut call, 1), 1, "after 3/4 of its RTT");

    let stats = call.shield().stats();
    assert_eq!(stats.hop.responder.repeats_suppressed, 2);
    assert_eq!(stats.repairs_sent, 4);
}
