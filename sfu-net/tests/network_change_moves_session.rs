//! A nominated valid check from a new address moves the session there:
//! media flows from and to the new address, the old one stays bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;
use sfu_net::{EndpointConfig, EndpointEvent};

#[test]
fn nominated_check_from_new_address_moves_media() {
    let t0 = Instant::now();
    let mut now = t0;
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(now, "198.51.100.7:50000", 1);
    let ours = publish(&mut ep, &mut peer, 1, now);
    connect(&mut ep, &mut peer, 1, &mut now);
    let old = peer.addr();
    let responses = peer.stats().check_responses;

    // Wi-Fi to cellular: same credentials, new address; the peer checks
    // from there at once, nominated.
    let t1 = t0 + secs(3);
    run(&mut ep, &mut [&mut peer], &mut now, t1);
    peer.move_to(addr("203.0.113.80:61000"));
    let events = run(&mut ep, &mut [&mut peer], &mut now, t1);
    assert!(events.iter().any(|e| matches!(e, EndpointEvent::PathSelected { session: 1, remote, .. } if *remote == peer.addr())), "{events:?}");
    assert_eq!(ep.selected_path(1), Some((peer.addr(), server_addr())));
    assert!(
        peer.ice_succeeded(),
        "the answer verified at the new address"
    );
    assert_eq!(peer.stats().check_responses, responses + 1);

    // Media from the new address is routed; media to the session goes there.
    peer.send_media(now, "0", None, false, 960, &payload(1, 500))
        .unwrap();
    let (to, wire) = peer.poll_transmit().unwrap();
    ep.handle_datagram(now, peer.addr(), to, &wire);
    ep.send_rtp(1, &rtp(9, 0x5001, 300)).unwrap();
    let sent = ep.poll_transmit().unwrap();
    assert_eq!(sent.destination, peer.addr());
    let events = pump(&mut ep, &mut [&mut peer], now);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EndpointEvent::Rtp { session: 1, .. }))
    );
    peer.handle_datagram(now, sent.source, &sent.contents);
    assert_eq!(peer.take_received().len(), 1);

    // An unnominated check (hand-crafted: the peer always nominates) from
    // yet another address answers but does not move.
    let third = addr("203.0.113.81:61001");
    let check = binding_request(ours.ufrag(), peer.ufrag(), ours.pwd(), false, true);
    ep.handle_datagram(now, third, server_addr(), &check);
    assert!(ep.poll_transmit().is_some());
    assert_eq!(ep.selected_path(1), Some((peer.addr(), server_addr())));
    assert_ne!(old, peer.addr());
    assert!(ep.path_route_count() <= EndpointConfig::default().max_paths_per_session);
}

#[test]
fn paths_per_session_stay_bounded() {
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    let ours = publish(&mut ep, &mut peer, 1, t0);
    for port in 0..100u16 {
        let from = std::net::SocketAddr::new("198.51.100.7".parse().unwrap(), 40000 + port);
        // Valid checks, half of them nominated, each a new transaction.
        let check = binding_request(ours.ufrag(), peer.ufrag(), ours.pwd(), port % 2 == 0, true);
        ep.handle_datagram(t0, from, server_addr(), &check);
    }
    assert_eq!(
        ep.path_route_count(),
        EndpointConfig::default().max_paths_per_session
    );
}

#[test]
fn path_reused_by_another_session_moves_to_the_newest_valid_check() {
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut a = audio_peer(t0, "198.51.100.7:50000", 1);
    publish(&mut ep, &mut a, 1, t0);
    let mut b = audio_peer(t0, "198.51.100.8:50000", 2);
    publish(&mut ep, &mut b, 2, t0);
    let check = first_check(&mut a, t0);
    ep.handle_datagram(t0, a.addr(), server_addr(), &check);
    // The NAT gives the same public address to another client later.
    b.move_to(a.addr());
    let check = first_check(&mut b, t0);
    ep.handle_datagram(t0, b.addr(), server_addr(), &check);
    assert_eq!(ep.path_route_count(), 1);
    assert_eq!(ep.selected_path(2), Some((a.addr(), server_addr())));
    assert_eq!(ep.selected_path(1), None);
    assert!(ep.send_rtp(1, &rtp(1, 1, 10)).is_err());
}
