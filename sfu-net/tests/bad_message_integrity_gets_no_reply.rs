//! Checks that fail MESSAGE-INTEGRITY, FINGERPRINT or the remote ufrag are
//! not answered and bind nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use sfu_net::EndpointConfig;

#[test]
fn wrong_password_gets_no_reply_and_binds_nothing() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (peer, session) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![], None);
    let check = binding_request(
        &peer.server_ufrag,
        &peer.ufrag,
        "not-the-password-at-all",
        true,
        true,
    );
    ep.handle_datagram(t0, peer.addr, server_addr(), &check);
    assert!(ep.poll_transmit().is_none());
    assert!(ep.poll_event().is_none());
    assert_eq!(ep.stats().stun_bad_integrity, 1);
    assert_eq!(ep.path_route_count(), 0);
    assert!(ep.selected_path(session).is_none());
}

#[test]
fn tampered_check_gets_no_reply() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (peer, _) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![], None);
    let mut check = peer.check(true);
    // Flip a bit of PRIORITY: covered by both HMAC and CRC.
    let at = check.len() - 8 - 24 - 4 - 12 - 8 + 4;
    check[at] ^= 1;
    ep.handle_datagram(t0, peer.addr, server_addr(), &check);
    assert!(ep.poll_transmit().is_none());
    assert_eq!(
        ep.stats().stun_bad_fingerprint + ep.stats().stun_bad_integrity,
        1
    );
    assert_eq!(ep.path_route_count(), 0);
}

#[test]
fn check_without_fingerprint_gets_no_reply() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (peer, _) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![], None);
    let check = binding_request(
        &peer.server_ufrag,
        &peer.ufrag,
        &peer.server_pwd,
        true,
        false,
    );
    ep.handle_datagram(t0, peer.addr, server_addr(), &check);
    assert!(ep.poll_transmit().is_none());
    assert_eq!(ep.stats().stun_bad_fingerprint, 1);
}

#[test]
fn check_naming_another_remote_ufrag_gets_no_reply() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (peer, _) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![], None);
    let check = binding_request(
        &peer.server_ufrag,
        "someoneelse",
        &peer.server_pwd,
        true,
        true,
    );
    ep.handle_datagram(t0, peer.addr, server_addr(), &check);
    assert!(ep.poll_transmit().is_none());
    assert_eq!(ep.stats().stun_wrong_remote_ufrag, 1);
    // The genuine check right after is answered.
    ep.handle_datagram(t0, peer.addr, server_addr(), &peer.check(true));
    let reply = ep.poll_transmit().unwrap();
    assert_eq!(
        verify_binding_response(&reply.contents, &peer.server_pwd),
        Some(peer.addr)
    );
}

#[test]
fn captured_check_replayed_from_elsewhere_gets_no_reply() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (peer, session) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![], None);
    let check = peer.check(true);
    ep.handle_datagram(t0, peer.addr, server_addr(), &check);
    assert!(ep.poll_transmit().is_some());
    // A retransmission from the same path is answered again.
    ep.handle_datagram(t0, peer.addr, server_addr(), &check);
    assert!(ep.poll_transmit().is_some());
    // The same bytes from an attacker's address are not, and move nothing.
    let attacker: std::net::SocketAddr = "203.0.113.66:6666".parse().unwrap();
    ep.handle_datagram(t0, attacker, server_addr(), &check);
    assert!(ep.poll_transmit().is_none());
    assert_eq!(ep.stats().stun_replayed, 1);
    assert_eq!(ep.selected_path(session), Some((peer.addr, server_addr())));
    assert_eq!(ep.path_route_count(), 1);
}
