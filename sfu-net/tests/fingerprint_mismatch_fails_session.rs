//! A DTLS client whose certificate does not match the fingerprint in its
//! offer fails the session with a typed error naming both fingerprints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;
use sfu_net::{CloseReason, EndpointConfig, EndpointEvent, Error, Fingerprint};

#[test]
fn certificate_not_matching_offer_fails_the_session() {
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let announced = Fingerprint::of_der(b"the certificate the offer talked about");
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    // The offer's a=fingerprint names another certificate than the one
    // the peer's DTLS client presents.
    let setup = Setup {
        offer_fingerprint: Some(announced),
        ..Setup::default()
    };
    publish_with(&mut ep, &mut peer, 1, t0, setup);
    let check = first_check(&mut peer, t0);
    ep.handle_datagram(t0, peer.addr(), server_addr(), &check);
    let events = pump(&mut ep, &mut [&mut peer], t0);

    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EndpointEvent::Connected { .. }))
    );
    let reason = events
        .iter()
        .find_map(|e| match e {
            EndpointEvent::Closed { session: 1, reason } => Some(reason),
            _ => None,
        })
        .expect("session closed");
    let CloseReason::Failed(Error::FingerprintMismatch { expected, actual }) = reason else {
        panic!("unexpected close reason {reason:?}");
    };
    assert_eq!(*expected, announced);
    assert_eq!(actual.as_bytes(), &peer.fingerprint());
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
    assert!(!peer.is_connected());
}

fn reason_text(reason: &CloseReason) -> String {
    match reason {
        CloseReason::Failed(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}
