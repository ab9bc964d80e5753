//! A lost server flight is retransmitted when the endpoint's timer fires,
//! and the handshake then completes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use sfu_net::{EndpointConfig, EndpointEvent};

#[test]
fn lost_server_flight_is_resent_after_timeout() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (mut peer, session) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![0x1111], None);
    ep.handle_datagram(t0, peer.addr, server_addr(), &peer.check(true));
    peer.start_dtls(t0);
    for d in std::mem::take(&mut peer.dtls_out) {
        ep.handle_datagram(t0, peer.addr, server_addr(), &d);
    }
    // Lose everything the endpoint sent (binding response and ServerHello flight).
    let mut lost = 0;
    while let Some(t) = ep.poll_transmit() {
        lost += usize::from(t.contents[0] >= 20);
    }
    assert!(lost > 0);
    let deadline = ep.poll_timeout().unwrap();
    assert!(
        deadline > t0 && deadline < t0 + secs(5),
        "retransmit timer {:?}",
        deadline - t0
    );
    ep.handle_timeout(deadline);
    let resent: Vec<_> = std::iter::from_fn(|| ep.poll_transmit()).collect();
    assert!(!resent.is_empty(), "no retransmission at the timer");
    // The client's clock stays put so that only the server's timer is
    // under test (a client retransmitting its ClientHello would also make
    // the server resend).
    for t in resent {
        peer.receive(t0, &t.contents);
    }
    let events = pump(&mut ep, &mut [&mut peer], deadline);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EndpointEvent::Connected { session: s, .. } if *s == session)),
        "{events:?} peer connected {} stats {:?} next {:?} peer next {:?}",
        peer.connected,
        ep.stats(),
        ep.poll_timeout().map(|t| t - t0),
        peer.next_dtls_timeout.map(|t| t - t0)
    );
}
