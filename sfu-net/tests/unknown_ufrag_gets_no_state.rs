//! Strangers get nothing: an unknown ufrag is not answered and binds no
//! path, and DTLS or SRTP from a path no valid check came from is dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use sfu_net::EndpointConfig;

#[test]
fn unknown_ufrag_gets_no_reply_and_no_state() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (peer, _session) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![], None);
    let stranger: std::net::SocketAddr = "203.0.113.5:4000".parse().unwrap();

    let check = binding_request("nosuchufrag", &peer.ufrag, &peer.server_pwd, true, true);
    ep.handle_datagram(t0, stranger, server_addr(), &check);
    // Right password, wrong ufrag: still unknown.
    let check = binding_request(
        &format!("{}x", peer.server_ufrag),
        &peer.ufrag,
        &peer.server_pwd,
        true,
        true,
    );
    ep.handle_datagram(t0, stranger, server_addr(), &check);

    assert!(ep.poll_transmit().is_none());
    assert!(ep.poll_event().is_none());
    assert_eq!((ep.session_count(), ep.path_route_count()), (1, 0));
    assert_eq!(ep.stats().stun_unknown_ufrag, 2);
}

#[test]
fn dtls_and_media_from_an_unchecked_path_are_dropped() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (mut peer, session) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![0x1111], None);
    // A ClientHello before any check: no reply, no handshake state.
    peer.start_dtls(t0);
    for d in std::mem::take(&mut peer.dtls_out) {
        ep.handle_datagram(t0, peer.addr, server_addr(), &d);
    }
    ep.handle_datagram(t0, peer.addr, server_addr(), &rtp(1, 0x1111, 100));
    ep.handle_datagram(t0, peer.addr, server_addr(), &receiver_report(0x1111));
    assert!(ep.poll_transmit().is_none());
    assert_eq!(ep.stats().dtls_unknown_source, 1);
    assert_eq!(ep.stats().media_unknown_source, 2);
    assert_eq!(ep.path_route_count(), 0);
    assert!(ep.selected_path(session).is_none());
}
