//! rid-based simulcast layers and a recvonly client's RTCP arrive on SSRCs
//! the SDP never listed. A session that opts into learning accepts them
//! once a packet authenticates; forged packets create nothing; a session
//! that did not opt in drops them before the decryptor.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use sfu_net::{EndpointConfig, EndpointEvent};

#[test]
fn authenticated_unsignalled_ssrcs_are_learned_forged_ones_are_not() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (mut peer, session) =
        Peer::join_with(&mut ep, t0, "198.51.100.7:50000", 1, vec![], None, true);
    connect(&mut ep, &mut peer, session, t0);

    let mut forged = peer.protect_rtp(1, 0xBBBB, 500);
    let last = forged.len() - 1;
    forged[last] ^= 0x55;
    ep.handle_datagram(t0, peer.addr, server_addr(), &forged);
    assert_eq!(ep.stats().srtp_ssrc_not_negotiated, 1);

    for (seq, ssrc) in [(1, 0xAAAA), (2, 0xAAAA), (1, 0xCCCC)] {
        let wire = peer.protect_rtp(seq, ssrc, 500);
        ep.handle_datagram(t0, peer.addr, server_addr(), &wire);
    }
    let rr = peer.protect_rtcp(0xDDDD);
    ep.handle_datagram(t0, peer.addr, server_addr(), &rr);
    let events = pump(&mut ep, &mut [&mut peer], t0);
    let rtp = events
        .iter()
        .filter(|e| matches!(e, EndpointEvent::Rtp { .. }))
        .count();
    let rtcp = events
        .iter()
        .filter(|e| matches!(e, EndpointEvent::Rtcp { .. }))
        .count();
    assert_eq!((rtp, rtcp), (3, 1));
    // The forged SSRC is still unknown: its genuine packet is learned now.
    let wire = peer.protect_rtp(2, 0xBBBB, 500);
    ep.handle_datagram(t0, peer.addr, server_addr(), &wire);
    assert!(matches!(ep.poll_event(), Some(EndpointEvent::Rtp { .. })));
}

#[test]
fn without_learning_unsignalled_ssrcs_are_dropped() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (mut peer, session) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![0x1111], None);
    connect(&mut ep, &mut peer, session, t0);
    let wire = peer.protect_rtp(1, 0xAAAA, 500);
    ep.handle_datagram(t0, peer.addr, server_addr(), &wire);
    assert!(ep.poll_event().is_none());
    assert_eq!(ep.stats().srtp_ssrc_not_negotiated, 1);
}

#[test]
fn learning_stops_at_the_ssrc_limit() {
    let t0 = std::time::Instant::now();
    let config = EndpointConfig::default().with_max_remote_ssrcs(2);
    let mut ep = endpoint(config);
    let (mut peer, session) = Peer::join_with(
        &mut ep,
        t0,
        "198.51.100.7:50000",
        1,
        vec![0x1111],
        None,
        true,
    );
    connect(&mut ep, &mut peer, session, t0);
    for ssrc in [0xAAAA, 0xBBBB, 0xCCCC] {
        let wire = peer.protect_rtp(1, ssrc, 100);
        ep.handle_datagram(t0, peer.addr, server_addr(), &wire);
    }
    let events = pump(&mut ep, &mut [&mut peer], t0);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, EndpointEvent::Rtp { .. }))
            .count(),
        1
    );
    assert_eq!(ep.stats().srtp_ssrc_not_negotiated, 2);
    assert!(ep.allow_remote_ssrc(session, 0xEEEE).is_err());
}
