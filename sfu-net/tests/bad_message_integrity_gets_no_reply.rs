//! Checks that fail MESSAGE-INTEGRITY, FINGERPRINT or the remote ufrag are
//! not answered and bind nothing. The bad checks are hand-crafted with
//! rtc-stun; the good ones are the stand-in peer's own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;
use sfu_net::EndpointConfig;

#[test]
fn wrong_password_gets_no_reply_and_binds_nothing() {
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    let ours = publish(&mut ep, &mut peer, 1, t0);
    let check = binding_request(
        ours.ufrag(),
        peer.ufrag(),
        "not-the-password-at-all",
        true,
        true,
    );
    ep.handle_datagram(t0, peer.addr(), server_addr(), &check);
    assert!(ep.poll_transmit().is_none());
    assert!(ep.poll_event().is_none());
    assert_eq!(ep.stats().stun_bad_integrity, 1);
    assert_eq!(ep.path_route_count(), 0);
    assert!(ep.selected_path(1).is_none());
}

#[test]
fn tampered_check_gets_no_reply() {
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    publish(&mut ep, &mut peer, 1, t0);
    let mut check = first_check(&mut peer, t0);
    // Flip a bit of PRIORITY (then ICE-CONTROLLING, USE-CANDIDATE,
    // MESSAGE-INTEGRITY, FINGERPRINT follow): covered by both HMAC and CRC.
    let at = check.len() - 8 - 24 - 4 - 12 - 8 + 4;
    check[at] ^= 1;
    ep.handle_datagram(t0, peer.addr(), server_addr(), &check);
    assert!(ep.poll_transmit().is_none());
    assert_eq!(
        ep.stats().stun_bad_fingerprint + ep.stats().stun_bad_integrity,
        1
    );
    assert_eq!(ep.path_route_count(), 0);
}

#[test]
fn check_without_fingerprint_gets_no_reply() {
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    let ours = publish(&mut ep, &mut peer, 1, t0);
    let check = binding_request(ours.ufrag(), peer.ufrag(), ours.pwd(), true, false);
    ep.handle_datagram(t0, peer.addr(), server_addr(), &check);
    assert!(ep.poll_transmit().is_none());
    assert_eq!(ep.stats().stun_bad_fingerprint, 1);
}

#[test]
fn check_naming_another_remote_ufrag_gets_no_reply() {
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    let ours = publish(&mut ep, &mut peer, 1, t0);
    let check = binding_request(ours.ufrag(), "someoneelse", ours.pwd(), true, true);
    ep.handle_datagram(t0, peer.addr(), server_addr(), &check);
    assert!(ep.poll_transmit().is_none());
    assert_eq!(ep.stats().stun_wrong_remote_ufrag, 1);
    // The peer's genuine check right after is answered.
    let check = first_check(&mut peer, t0);
    ep.handle_datagram(t0, peer.addr(), server_addr(), &check);
    let reply = ep.poll_transmit().unwrap();
    assert_eq!(
        verify_binding_response(&reply.contents, ours.pwd()),
        Some(peer.addr())
    );
}

#[test]
fn captured_check_replayed_from_elsewhere_gets_no_reply() {
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    publish(&mut ep, &mut peer, 1, t0);
    let check = first_check(&mut peer, t0);
    ep.handle_datagram(t0, peer.addr(), server_addr(), &check);
    assert!(ep.poll_transmit().is_some());
    // A retransmission from the same path is answered again.
    ep.handle_datagram(t0, peer.addr(), server_addr(), &check);
    assert!(ep.poll_transmit().is_some());
    // The same bytes from an attacker's address are not, and move nothing.
    let attacker = addr("203.0.113.66:6666");
    ep.handle_datagram(t0, attacker, server_addr(), &check);
    assert!(ep.poll_transmit().is_none());
    assert_eq!(ep.stats().stun_replayed, 1);
    assert_eq!(ep.selected_path(1), Some((peer.addr(), server_addr())));
    assert_eq!(ep.path_route_count(), 1);
}
