//! The endpoint's DTLS server picks the SRTP protection profile, and it
//! prefers AEAD_AES_128_GCM whenever the client offers it: same AEAD
//! strength class for SRTP's purposes, and cheaper per packet than
//! AEAD_AES_256_GCM (`benches/srtp.rs`: `gcm_protect_unprotect_1200` against
//! `gcm256_protect_unprotect_1200`). A client that offers only
//! AEAD_AES_256_GCM, or only AES128_CM_HMAC_SHA1_80, still gets that one.
//!
//! The first test completes a handshake with the kit peer, whose DTLS
//! client offers 256-GCM, 128-GCM, SHA1_80 in that order. The others rewrite
//! the peer's ClientHello on the wire to the offer under test and read the
//! endpoint's choice off its ServerHello (a rewritten hello cannot finish a
//! handshake: the client's transcript holds the hello it built).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;
use sfu_net::{EndpointConfig, EndpointEvent, SrtpProfile};
use sfu_testkit::peer::{Peer, SrtpProfile as PeerProfile};
use sfu_testkit::use_srtp::{self, AEAD_AES_128_GCM, AEAD_AES_256_GCM, AES128_CM_HMAC_SHA1_80};

/// A session for a fresh audio peer whose check was answered, and the
/// peer's first DTLS datagram (the ClientHello), taken off its queue.
fn client_hello(ep: &mut Endpoint, now: Instant) -> (Peer, Vec<u8>) {
    let mut peer = audio_peer(now, "198.51.100.7:50000", 1);
    publish(ep, &mut peer, 1, now);
    let check = first_check(&mut peer, now);
    ep.handle_datagram(now, peer.addr(), server_addr(), &check);
    let reply = ep.poll_transmit().expect("the check is answered");
    peer.handle_datagram(now, reply.source, &reply.contents);
    let (_, hello) = peer.poll_transmit().expect("a ClientHello");
    (peer, hello)
}

/// The profile the endpoint selects when the peer's ClientHello offers
/// `offer` (in that order).
fn selected_for(offer: &[u16]) -> Option<u16> {
    let now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (peer, hello) = client_hello(&mut ep, now);
    let rewritten = use_srtp::with_offer(&hello, offer).expect("a rewritable ClientHello");
    assert_eq!(use_srtp::offered(&rewritten).as_deref(), Some(offer));
    ep.handle_datagram(now, peer.addr(), server_addr(), &rewritten);
    let mut server_hello = None;
    while let Some(t) = ep.poll_transmit() {
        server_hello = server_hello.or_else(|| use_srtp::selected(&t.contents));
    }
    assert_eq!(ep.session_count(), 1, "the hello was accepted");
    server_hello
}

#[test]
fn client_offering_256_and_128_gcm_connects_with_128_gcm() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (mut peer, hello) = client_hello(&mut ep, now);
    assert_eq!(
        use_srtp::offered(&hello),
        Some(vec![
            AEAD_AES_256_GCM,
            AEAD_AES_128_GCM,
            AES128_CM_HMAC_SHA1_80
        ]),
        "dimpl's client offers 256-GCM first"
    );
    ep.handle_datagram(now, peer.addr(), server_addr(), &hello);
    let mut selected = None;
    while let Some(t) = ep.poll_transmit() {
        selected = selected.or_else(|| use_srtp::selected(&t.contents));
        peer.handle_datagram(now, t.source, &t.contents);
    }
    assert_eq!(selected, Some(AEAD_AES_128_GCM), "the ServerHello's choice");

    let events = connect(&mut ep, &mut peer, 1, &mut now);
    assert!(
        events.iter().any(|e| matches!(
            e,
            EndpointEvent::Connected {
                session: 1,
                profile: SrtpProfile::AeadAes128Gcm
            }
        )),
        "{events:?}"
    );
    assert_eq!(peer.srtp_profile(), Some(PeerProfile::AeadAes128Gcm));

    // Both sides keyed 128-GCM the same way: media decrypts.
    assert_media_reaches_session_1(&mut ep, &mut peer, now);
}

#[test]
fn chromium_offer_gets_128_gcm() {
    assert_eq!(
        selected_for(&use_srtp::CHROMIUM_OFFER),
        Some(AEAD_AES_128_GCM)
    );
    assert_eq!(
        selected_for(&[AEAD_AES_256_GCM, AEAD_AES_128_GCM]),
        Some(AEAD_AES_128_GCM)
    );
}

#[test]
fn client_offering_only_256_gcm_gets_256_gcm() {
    assert_eq!(selected_for(&[AEAD_AES_256_GCM]), Some(AEAD_AES_256_GCM));
    assert_eq!(
        selected_for(&[AES128_CM_HMAC_SHA1_80, AEAD_AES_256_GCM]),
        Some(AEAD_AES_256_GCM),
        "GCM before SHA1_80"
    );
}

#[test]
fn client_offering_only_sha1_80_gets_sha1_80() {
    assert_eq!(
        selected_for(&[AES128_CM_HMAC_SHA1_80]),
        Some(AES128_CM_HMAC_SHA1_80)
    );
    assert_eq!(
        selected_for(&[use_srtp::AES128_CM_HMAC_SHA1_32, AES128_CM_HMAC_SHA1_80]),
        Some(AES128_CM_HMAC_SHA1_80),
        "an unsupported profile is passed over"
    );
}
