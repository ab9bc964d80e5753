//! A lost server flight is retransmitted when the endpoint's timer fires,
//! and the handshake then completes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;
use sfu_net::{EndpointConfig, EndpointEvent};

#[test]
fn lost_server_flight_is_resent_after_timeout() {
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    publish(&mut ep, &mut peer, 1, t0);
    // The check is answered, which starts the peer's handshake.
    let check = first_check(&mut peer, t0);
    ep.handle_datagram(t0, peer.addr(), server_addr(), &check);
    let reply = ep.poll_transmit().unwrap();
    assert!(reply.contents[0] < 4, "the binding response");
    peer.handle_datagram(t0, reply.source, &reply.contents);
    let mut hellos = 0;
    while let Some((_, d)) = peer.poll_transmit() {
        ep.handle_datagram(t0, peer.addr(), server_addr(), &d);
        hellos += 1;
    }
    assert!(hellos > 0, "no ClientHello");
    // Lose everything the endpoint sent back (the ServerHello flight).
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
        peer.handle_datagram(t0, t.source, &t.contents);
    }
    let events = pump(&mut ep, &mut [&mut peer], deadline);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EndpointEvent::Connected { session: 1, .. })),
        "{events:?} peer connected {} stats {:?} next {:?} peer next {:?}",
        peer.is_connected(),
        ep.stats(),
        ep.poll_timeout().map(|t| t - t0),
        peer.poll_timeout().map(|t| t - t0)
    );
}
