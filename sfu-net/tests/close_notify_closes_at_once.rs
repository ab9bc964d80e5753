//! DTLS close_notify from the peer ends the session immediately, and
//! closing locally sends close_notify to the peer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use sfu_net::{CloseReason, EndpointConfig, EndpointEvent};

#[test]
fn peer_close_notify_closes_session_at_once() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (mut peer, session) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![0x1111], None);
    connect(&mut ep, &mut peer, session, t0);
    peer.dtls.close().unwrap();
    peer.handle_timeout(t0);
    assert!(!peer.dtls_out.is_empty());
    let events = pump(&mut ep, &mut [&mut peer], t0);
    assert!(
        matches!(events[..], [EndpointEvent::Closed { session: s, reason: CloseReason::CloseNotify }] if s == session),
        "{events:?}"
    );
    assert_eq!((ep.session_count(), ep.path_route_count()), (0, 0));
}

#[test]
fn local_close_sends_close_notify() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (mut peer, session) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![0x1111], None);
    connect(&mut ep, &mut peer, session, t0);
    ep.close_session(session).unwrap();
    let events = pump(&mut ep, &mut [&mut peer], t0);
    assert!(matches!(
        events[..],
        [EndpointEvent::Closed {
            reason: CloseReason::Local,
            ..
        }]
    ));
    assert!(peer.close_notify);
    assert!(ep.close_session(session).is_err());
}
