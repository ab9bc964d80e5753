//! A captured nominated check replayed later from another address moves
//! nothing (issue 10, item 8): every verified transaction is remembered for
//! longer than the consent window, however many checks came since, and a
//! flood of valid checks cannot flush that memory. A legitimate network
//! change — a new path, a new transaction — still moves the session.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use sfu_net::{EndpointConfig, EndpointEvent, IceCredentials};
use sfu_testkit::peer::Peer;

/// A session whose peer's first, nominated check was delivered from its
/// address at `t0`; returns the check's bytes for replaying.
fn captured(ep: &mut Endpoint, peer: &mut Peer, t0: Instant) -> (IceCredentials, Vec<u8>) {
    let ours = publish(ep, peer, 1, t0);
    let check = first_check(peer, t0);
    ep.handle_datagram(t0, peer.addr(), server_addr(), &check);
    assert!(ep.poll_transmit().is_some());
    assert_eq!(ep.selected_path(1), Some((peer.addr(), server_addr())));
    (ours, check)
}

/// `n` further valid nominated checks from the peer's address, spread
/// evenly from `from` over `over`, each a new transaction, each answered.
fn keep_checking(
    ep: &mut Endpoint,
    ours: &IceCredentials,
    peer: &Peer,
    from: Instant,
    over: Duration,
    n: u32,
) {
    for i in 0..n {
        let at = from + over * i / n;
        let check = binding_request(ours.ufrag(), peer.ufrag(), ours.pwd(), true, true);
        ep.handle_datagram(at, peer.addr(), server_addr(), &check);
        assert!(ep.poll_transmit().is_some(), "check {i} answered");
    }
}

#[test]
fn a_nominated_check_replayed_after_20_checks_and_25_s_from_elsewhere_does_not_move_the_path() {
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    let (ours, check) = captured(&mut ep, &mut peer, t0);
    // Consent checks for 25 s, more of them than the 16 remembered before.
    keep_checking(&mut ep, &ours, &peer, t0, secs(25), 20);
    let replayed_at = t0 + secs(25);
    let attacker = addr("203.0.113.66:6666");
    ep.handle_datagram(replayed_at, attacker, server_addr(), &check);
    assert!(ep.poll_transmit().is_none(), "the replay was answered");
    assert_eq!(ep.selected_path(1), Some((peer.addr(), server_addr())));
    assert_eq!(ep.stats().stun_replayed, 1);
    assert!(
        !std::iter::from_fn(|| ep.poll_event())
            .any(|e| matches!(e, EndpointEvent::PathSelected { remote, .. } if remote == attacker))
    );
    // Still live: the peer's own path carries on.
    ep.handle_timeout(replayed_at);
    assert_eq!(ep.session_count(), 1);
}

#[test]
fn a_fresh_check_from_a_new_address_still_moves_the_path() {
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    let (ours, _) = captured(&mut ep, &mut peer, t0);
    keep_checking(&mut ep, &ours, &peer, t0, secs(25), 20);
    // Wi-Fi to cellular: a new transaction from a new address, nominated.
    let new_address = addr("203.0.113.80:61000");
    let check = binding_request(ours.ufrag(), peer.ufrag(), ours.pwd(), true, true);
    ep.handle_datagram(t0 + secs(25), new_address, server_addr(), &check);
    assert!(ep.poll_transmit().is_some());
    assert_eq!(ep.selected_path(1), Some((new_address, server_addr())));
}

#[test]
fn a_flood_of_valid_checks_cannot_flush_the_replay_memory() {
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    let (ours, check) = captured(&mut ep, &mut peer, t0);
    // 2 000 valid new transactions in 2 s from the peer's address: more
    // than any bound on the memory; the excess is refused and counted.
    let mut answered = 0;
    for i in 0..2000u32 {
        let at = t0 + Duration::from_millis(u64::from(i));
        let c = binding_request(ours.ufrag(), peer.ufrag(), ours.pwd(), true, true);
        ep.handle_datagram(at, peer.addr(), server_addr(), &c);
        answered += u32::from(ep.poll_transmit().is_some());
    }
    let refused = ep.stats().stun_check_rate_exceeded;
    eprintln!("2000 valid checks in 2 s: {answered} answered, {refused} refused");
    assert!(answered < 100, "{answered} answered");
    assert_eq!(u64::from(answered) + refused, 2000);
    let attacker = addr("203.0.113.66:6666");
    ep.handle_datagram(t0 + secs(3), attacker, server_addr(), &check);
    assert!(ep.poll_transmit().is_none(), "the replay was answered");
    assert_eq!(ep.stats().stun_replayed, 1);
    assert_eq!(ep.selected_path(1), Some((peer.addr(), server_addr())));
    // The bound is a rate, not a lockout: the peer's next consent checks,
    // at browser pace, are answered and keep the session alive.
    let mut now = t0 + secs(3);
    for _ in 0..12 {
        now += secs(5);
        let c = binding_request(ours.ufrag(), peer.ufrag(), ours.pwd(), true, true);
        ep.handle_datagram(now, peer.addr(), server_addr(), &c);
        assert!(ep.poll_transmit().is_some());
        ep.handle_timeout(now);
    }
    assert_eq!(ep.session_count(), 1);
}

#[test]
fn retransmissions_from_the_same_path_are_answered_and_cost_nothing() {
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    let (_, check) = captured(&mut ep, &mut peer, t0);
    for i in 1..=500u64 {
        ep.handle_datagram(
            t0 + Duration::from_millis(i),
            peer.addr(),
            server_addr(),
            &check,
        );
        assert!(ep.poll_transmit().is_some(), "retransmission {i}");
    }
    assert_eq!(ep.stats().stun_check_rate_exceeded, 0);
}
