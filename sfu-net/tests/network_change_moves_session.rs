//! A nominated valid check from a new address moves the session there:
//! media flows from and to the new address, the old one stays bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use sfu_net::{EndpointConfig, EndpointEvent};

#[test]
fn nominated_check_from_new_address_moves_media() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (mut peer, session) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![0x1111], None);
    connect(&mut ep, &mut peer, session, t0);
    let old = peer.addr;

    // Wi-Fi to cellular: same credentials, new address.
    let t1 = t0 + secs(3);
    peer.addr = "203.0.113.80:61000".parse().unwrap();
    ep.handle_datagram(t1, peer.addr, server_addr(), &peer.check(true));
    let events = pump(&mut ep, &mut [&mut peer], t1);
    assert!(events.iter().any(|e| matches!(e, EndpointEvent::PathSelected { session: s, remote, .. } if *s == session && *remote == peer.addr)));
    assert_eq!(ep.selected_path(session), Some((peer.addr, server_addr())));
    assert_eq!(peer.binding_responses.last(), Some(&peer.addr));

    // Media from the new address is routed; media to the session goes there.
    let wire = peer.protect_rtp(1, 0x1111, 500);
    ep.handle_datagram(t1, peer.addr, server_addr(), &wire);
    ep.send_rtp(session, &rtp(9, 0x5001, 300)).unwrap();
    let sent = ep.poll_transmit().unwrap();
    assert_eq!(sent.destination, peer.addr);
    let events = pump(&mut ep, &mut [&mut peer], t1);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EndpointEvent::Rtp { session: s, .. } if *s == session))
    );
    peer.receive(t1, &sent.contents);
    assert_eq!(peer.rtp.len(), 1);

    // An unnominated check from yet another address answers but does not move.
    let third: std::net::SocketAddr = "203.0.113.81:61001".parse().unwrap();
    ep.handle_datagram(t1, third, server_addr(), &peer.check(false));
    assert!(ep.poll_transmit().is_some());
    assert_eq!(ep.selected_path(session), Some((peer.addr, server_addr())));
    assert_ne!(old, peer.addr);
    assert!(ep.path_route_count() <= EndpointConfig::default().max_paths_per_session);
}

#[test]
fn paths_per_session_stay_bounded() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (peer, _session) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![], None);
    for port in 0..100u16 {
        let from = std::net::SocketAddr::new("198.51.100.7".parse().unwrap(), 40000 + port);
        ep.handle_datagram(t0, from, server_addr(), &peer.check(port % 2 == 0));
    }
    assert_eq!(
        ep.path_route_count(),
        EndpointConfig::default().max_paths_per_session
    );
}

#[test]
fn path_reused_by_another_session_moves_to_the_newest_valid_check() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (a, session_a) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![], None);
    let (mut b, session_b) = Peer::join(&mut ep, t0, "198.51.100.8:50000", 2, vec![], None);
    ep.handle_datagram(t0, a.addr, server_addr(), &a.check(true));
    // The NAT gives the same public address to another client later.
    b.addr = a.addr;
    ep.handle_datagram(t0, b.addr, server_addr(), &b.check(true));
    assert_eq!(ep.path_route_count(), 1);
    assert_eq!(ep.selected_path(session_b), Some((a.addr, server_addr())));
    assert_eq!(ep.selected_path(session_a), None);
    assert!(ep.send_rtp(session_a, &rtp(1, 1, 10)).is_err());
}
