//! A DTLS client whose certificate does not match the fingerprint in its
//! offer fails the session with a typed error naming both fingerprints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use sfu_net::{CloseReason, EndpointConfig, EndpointEvent, Error, Fingerprint};

#[test]
fn certificate_not_matching_offer_fails_the_session() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let announced = Fingerprint::of_der(b"the certificate the offer talked about");
    let (mut peer, session) = Peer::join(
        &mut ep,
        t0,
        "198.51.100.7:50000",
        1,
        vec![0x1111],
        Some(announced),
    );
    ep.handle_datagram(t0, peer.addr, server_addr(), &peer.check(true));
    peer.start_dtls(t0);
    let events = pump(&mut ep, &mut [&mut peer], t0);

    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EndpointEvent::Connected { .. }))
    );
    let reason = events
        .iter()
        .find_map(|e| match e {
            EndpointEvent::Closed { session: s, reason } if *s == session => Some(reason),
            _ => None,
        })
        .expect("session closed");
    let CloseReason::Failed(Error::FingerprintMismatch { expected, actual }) = reason else {
        panic!("unexpected close reason {reason:?}");
    };
    assert_eq!(*expected, announced);
    assert_eq!(*actual, peer.fingerprint);
    let text = reason_text(reason);
    assert!(
        text.contains("fingerprint mismatch") && text.contains(&announced.sdp_value()),
        "{text}"
    );
    assert_eq!(
        (
            ep.session_count(),
            ep.path_route_count(),
            ep.ufrag_route_count()
        ),
        (0, 0, 0)
    );
    assert_eq!(ep.stats().sessions_failed, 1);
    assert!(!peer.connected);
}

fn reason_text(reason: &CloseReason) -> String {
    match reason {
        CloseReason::Failed(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}
