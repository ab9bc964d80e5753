//! rid-based simulcast layers and a recvonly client's RTCP arrive on SSRCs
//! the SDP never listed. A session that opts into learning accepts them
//! once a packet authenticates; forged packets create nothing; a session
//! that did not opt in drops them before the decryptor.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;
use sfu_net::{EndpointConfig, EndpointEvent};
use sfu_testkit::peer::{Peer, PeerConfig};

/// A peer that sends audio (its SSRC signalled) and three rid simulcast
/// layers q, h, f (their SSRCs in no SDP line), set up and connected.
fn simulcast_peer(
    ep: &mut Endpoint,
    now: &mut Instant,
    audio: bool,
    learn_remote_ssrcs: bool,
) -> Peer {
    let mut config = PeerConfig::new(addr("198.51.100.7:50000"), 1);
    if audio {
        config = config.send_audio();
    }
    let mut peer = Peer::new(*now, config.send_simulcast(&["q", "h", "f"]));
    let setup = Setup {
        signalled_ssrcs_only: true,
        learn_remote_ssrcs,
        ..Setup::default()
    };
    publish_with(ep, &mut peer, 1, *now, setup);
    connect(ep, &mut peer, 1, now);
    peer
}

/// The SRTP datagram of one VP8 packet on simulcast layer `rid`.
fn layer_packet(peer: &mut Peer, now: Instant, mid: &str, rid: &str) -> Vec<u8> {
    peer.send_vp8_frame(now, mid, Some(rid), true, 1).unwrap();
    let (to, wire) = peer.poll_transmit().unwrap();
    assert_eq!(to, server_addr());
    wire
}

fn count(events: &[Event]) -> (usize, usize) {
    let rtp = events
        .iter()
        .filter(|e| matches!(e, EndpointEvent::Rtp { .. }))
        .count();
    let rtcp = events
        .iter()
        .filter(|e| matches!(e, EndpointEvent::Rtcp { .. }))
        .count();
    (rtp, rtcp)
}

#[test]
fn authenticated_unsignalled_ssrcs_are_learned_forged_ones_are_not() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = simulcast_peer(&mut ep, &mut now, false, true);

    let mut forged = layer_packet(&mut peer, now, "0", "h");
    let last = forged.len() - 1;
    forged[last] ^= 0x55;
    ep.handle_datagram(now, peer.addr(), server_addr(), &forged);
    assert_eq!(ep.stats().srtp_ssrc_not_negotiated, 1);

    // The peer's receiver report comes from an SSRC that has sent no RTP
    // yet, as a recvonly client's does: it reports on what the SFU sent.
    ep.send_rtp(1, &rtp(1, 0x5001, 100)).unwrap();
    let until = now + secs(1);
    let mut events = run(&mut ep, &mut [&mut peer], &mut now, until);
    assert_eq!(peer.stats().receiver_reports_sent, 1);
    for rid in ["q", "q", "f"] {
        let wire = layer_packet(&mut peer, now, "0", rid);
        ep.handle_datagram(now, peer.addr(), server_addr(), &wire);
    }
    events.extend(pump(&mut ep, &mut [&mut peer], now));
    assert_eq!(count(&events), (3, 1));
    // The forged SSRC is still unknown: its genuine packet is learned now.
    let wire = layer_packet(&mut peer, now, "0", "h");
    ep.handle_datagram(now, peer.addr(), server_addr(), &wire);
    assert!(matches!(ep.poll_event(), Some(EndpointEvent::Rtp { .. })));
}

#[test]
fn without_learning_unsignalled_ssrcs_are_dropped() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = simulcast_peer(&mut ep, &mut now, true, false);
    let wire = layer_packet(&mut peer, now, "1", "q");
    ep.handle_datagram(now, peer.addr(), server_addr(), &wire);
    assert!(ep.poll_event().is_none());
    assert_eq!(ep.stats().srtp_ssrc_not_negotiated, 1);
}

#[test]
fn learning_stops_at_the_ssrc_limit() {
    let mut now = Instant::now();
    let config = EndpointConfig::default().with_max_remote_ssrcs(2);
    let mut ep = endpoint(config);
    // The signalled audio SSRC is one of the two.
    let mut peer = simulcast_peer(&mut ep, &mut now, true, true);
    for rid in ["q", "h", "f"] {
        let wire = layer_packet(&mut peer, now, "1", rid);
        ep.handle_datagram(now, peer.addr(), server_addr(), &wire);
    }
    let events = pump(&mut ep, &mut [&mut peer], now);
    assert_eq!(count(&events).0, 1);
    assert_eq!(ep.stats().srtp_ssrc_not_negotiated, 2);
    assert!(ep.allow_remote_ssrc(1, 0xEEEE).is_err());
}
