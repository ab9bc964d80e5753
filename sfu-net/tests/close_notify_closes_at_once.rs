//! DTLS close_notify from the peer ends the session immediately, and
//! closing locally sends close_notify to the peer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;
use sfu_net::{CloseReason, EndpointConfig, EndpointEvent};

#[test]
fn peer_close_notify_closes_session_at_once() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(now, "198.51.100.7:50000", 1);
    publish(&mut ep, &mut peer, 1, now);
    connect(&mut ep, &mut peer, 1, &mut now);
    let dtls_sent = peer.stats().dtls_sent;
    peer.close(now);
    assert!(peer.stats().dtls_sent > dtls_sent, "close_notify queued");
    let events = pump(&mut ep, &mut [&mut peer], now);
    assert!(
        matches!(
            events[..],
            [EndpointEvent::Closed {
                session: 1,
                reason: CloseReason::CloseNotify
            }]
        ),
        "{events:?}"
    );
    assert_eq!((ep.session_count(), ep.path_route_count()), (0, 0));
}

#[test]
fn local_close_sends_close_notify() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(now, "198.51.100.7:50000", 1);
    publish(&mut ep, &mut peer, 1, now);
    connect(&mut ep, &mut peer, 1, &mut now);
    ep.close_session(1).unwrap();
    let events = pump(&mut ep, &mut [&mut peer], now);
    assert!(matches!(
        events[..],
        [EndpointEvent::Closed {
            reason: CloseReason::Local,
            ..
        }]
    ));
    assert!(peer.close_notify_received());
    assert!(ep.close_session(1).is_err());
}
