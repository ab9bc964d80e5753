//! RFC 4588 §4: an RTX stream numbers its packets itself; the original's
//! sequence number travels in the OSN. Two repairs of one packet (a second
//! NACK after the copy was lost) are two RTX packets with two sequence
//! numbers: with the original's number on both, SRTP's replay check at the
//! subscriber drops the second copy, and the repair with it.

mod shield_common;

use std::time::Duration;

use shield_common::ShieldCall;

#[test]
fn two_repairs_of_one_packet_are_two_rtx_sequence_numbers() {
    let mut call = ShieldCall::new(&[true]);
    for seq in 0..8 {
        call.send(seq, seq == 0);
        call.advance(Duration::from_millis(3));
    }
    call.drain();
    let viewer = call.viewers[0];
    let mut repairs = Vec::new();
    for _ in 0..3 {
        call.nack(0, &[5]);
        let sent = call.drain();
        repairs.extend(
            sent.rtp_to(viewer.session)
                .into_iter()
                .map(|p| (p.ssrc, p.sequence_number, p.rtx_osn)),
        );
        // Past the pacing of repeats to one subscriber.
        call.advance(Duration::from_millis(150));
    }
    let (rtx_ssrc, _) = viewer.rtx.unwrap();
    assert_eq!(repairs.len(), 3, "{repairs:?}");
    assert!(repairs.iter().all(|r| r.0 == rtx_ssrc && r.2 == Some(5)));
    // Consecutive on the RTX stream, whatever the original numbers were.
    assert_eq!(repairs[1].1, repairs[0].1.wrapping_add(1), "{repairs:?}");
    assert_eq!(repairs[2].1, repairs[1].1.wrapping_add(1), "{repairs:?}");
}
