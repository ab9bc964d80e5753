//! Cache repairs go as RTX (RFC 4588: the subscriber's RTX SSRC and payload
//! type, the original sequence number in front of the payload) to a
//! subscriber that negotiated RTX, and as a plain retransmission otherwise.

mod shield_common;

use std::time::Duration;

use shield_common::ShieldCall;

#[test]
fn repairs_are_rtx_when_negotiated_and_plain_otherwise() {
    let mut call = ShieldCall::new(&[true, false]);
    for seq in 0..8 {
        call.send(seq, seq == 0);
        call.advance(Duration::from_millis(3));
    }
    call.drain();
    call.nack(0, &[5]);
    call.nack(1, &[5]);
    let sent = call.drain();

    let with_rtx = call.viewers[0];
    let (rtx_ssrc, rtx_pt) = with_rtx.rtx.unwrap();
    let got = sent.rtp_to(with_rtx.session);
    assert_eq!(got.len(), 1);
    let p = got[0];
    assert_eq!(
        (p.ssrc, p.payload_type, p.rtx_osn),
        (rtx_ssrc, rtx_pt, Some(5))
    );
    // On the wire: OSN first, then the original payload.
    let wire = p.to_vec();
    let payload = ShieldCall::payload(5, false);
    assert_eq!(
        &wire[wire.len() - payload.len() - 2..][..2],
        &5u16.to_be_bytes()
    );
    assert!(wire.ends_with(&payload));

    let plain = call.viewers[1];
    let got = sent.rtp_to(plain.session);
    assert_eq!(got.len(), 1);
    let p = got[0];
    assert_eq!(
        (p.ssrc, p.payload_type, p.sequence_number),
        (plain.ssrc, 100, 5)
    );
    assert_eq!(p.rtx_osn, None);
    assert_eq!(p.payload, payload);
}
