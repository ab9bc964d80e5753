//! Strangers get nothing: an unknown ufrag is not answered and binds no
//! path, and DTLS or SRTP from a path no valid check came from is dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;
use sfu_net::EndpointConfig;

#[test]
fn unknown_ufrag_gets_no_reply_and_no_state() {
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    let ours = publish(&mut ep, &mut peer, 1, t0);
    let stranger = addr("203.0.113.5:4000");

    let check = binding_request("nosuchufrag", peer.ufrag(), ours.pwd(), true, true);
    ep.handle_datagram(t0, stranger, server_addr(), &check);
    // Right password, wrong ufrag: still unknown.
    let check = binding_request(
        &format!("{}x", ours.ufrag()),
        peer.ufrag(),
        ours.pwd(),
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
    let t0 = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    publish(&mut ep, &mut peer, 1, t0);
    let audio_ssrc = peer.sending_ssrcs("0")[0].1;
    // A ClientHello before any check from this path: no reply, no
    // handshake state. (The peer starts DTLS only once its check is
    // answered, so the ClientHello is one a scratch endpoint provoked.)
    let hello = stranger_client_hello(t0, "198.51.100.7:50000", 2);
    ep.handle_datagram(t0, peer.addr(), server_addr(), &hello);
    ep.handle_datagram(t0, peer.addr(), server_addr(), &rtp(1, audio_ssrc, 100));
    ep.handle_datagram(t0, peer.addr(), server_addr(), &receiver_report(audio_ssrc));
    assert!(ep.poll_transmit().is_none());
    assert_eq!(ep.stats().dtls_unknown_source, 1);
    assert_eq!(ep.stats().media_unknown_source, 2);
    assert_eq!(ep.path_route_count(), 0);
    assert!(ep.selected_path(1).is_none());
}
