//! Browsers now offer DTLS 1.3 next to 1.2 in one hybrid ClientHello; the
//! endpoint's DTLS 1.2 server completes a 1.2 handshake with them. The
//! versions are read off the wire: the ClientHello lists DTLS 1.3 in
//! supported_versions, the ServerHello answers 1.2 without that extension
//! (RFC 8446 §4.2.1: a 1.3 server must send it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;
use sfu_net::{EndpointConfig, EndpointEvent};
use sfu_testkit::peer::{Peer, PeerConfig};

const DTLS_1_2: u16 = 0xfefd;
const DTLS_1_3: u16 = 0xfefc;
const SUPPORTED_VERSIONS: u16 = 43;

/// The first whole handshake message of type `kind` in a datagram of DTLS
/// records, without its 12-byte handshake header.
fn handshake_message(datagram: &[u8], kind: u8) -> Option<&[u8]> {
    let mut rest = datagram;
    while rest.len() >= 13 {
        let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
        let record = rest.get(13..13 + len)?;
        if rest[0] == 22 && record.len() >= 12 && record[0] == kind {
            let body_len = u32::from_be_bytes([0, record[1], record[2], record[3]]) as usize;
            let fragment_offset = u32::from_be_bytes([0, record[6], record[7], record[8]]);
            if fragment_offset == 0 {
                return record.get(12..12 + body_len);
            }
        }
        rest = &rest[13 + len..];
    }
    None
}

/// The (type, data) extensions of a ClientHello (`client`) or ServerHello.
fn extensions(hello: &[u8], client: bool) -> Vec<(u16, &[u8])> {
    let u8_at = |i: usize| usize::from(hello[i]);
    let u16_at = |i: usize| usize::from(u16::from_be_bytes([hello[i], hello[i + 1]]));
    // version, random, session id
    let mut at = 2 + 32;
    at += 1 + u8_at(at);
    if client {
        at += 1 + u8_at(at); // cookie
        at += 2 + u16_at(at); // cipher suites
        at += 1 + u8_at(at); // compression methods
    } else {
        at += 2 + 1; // cipher suite, compression method
    }
    let end = at + 2 + u16_at(at);
    at += 2;
    let mut out = Vec::new();
    while at + 4 <= end {
        let (typ, len) = (u16_at(at) as u16, u16_at(at + 2));
        out.push((typ, &hello[at + 4..at + 4 + len]));
        at += 4 + len;
    }
    out
}

#[test]
fn hybrid_client_hello_completes_as_dtls12() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = Peer::new(
        now,
        PeerConfig::new(addr("198.51.100.7:50000"), 1)
            .send_audio()
            .hybrid_client_hello(),
    );
    publish(&mut ep, &mut peer, 1, now);

    // The check is answered; the answer starts the peer's handshake.
    let check = first_check(&mut peer, now);
    ep.handle_datagram(now, peer.addr(), server_addr(), &check);
    let reply = ep.poll_transmit().unwrap();
    peer.handle_datagram(now, reply.source, &reply.contents);
    let (_, hello) = peer.poll_transmit().expect("a ClientHello");
    let client_hello = handshake_message(&hello, 1).expect("a whole ClientHello");
    let offered = extensions(client_hello, true)
        .into_iter()
        .find(|(typ, _)| *typ == SUPPORTED_VERSIONS)
        .map(|(_, data)| data.to_vec())
        .expect("a hybrid ClientHello lists its versions");
    let versions: Vec<u16> = offered[1..]
        .chunks(2)
        .map(|v| u16::from_be_bytes([v[0], v[1]]))
        .collect();
    assert!(
        versions.contains(&DTLS_1_3) && versions.contains(&DTLS_1_2),
        "{versions:x?}"
    );

    // Everything the endpoint sends from here on, until the ServerHello.
    ep.handle_datagram(now, peer.addr(), server_addr(), &hello);
    let mut server_hello = None;
    for _ in 0..16 {
        while let Some(t) = ep.poll_transmit() {
            if server_hello.is_none() {
                server_hello = handshake_message(&t.contents, 2).map(<[u8]>::to_vec);
            }
            peer.handle_datagram(now, t.source, &t.contents);
        }
        if server_hello.is_some() {
            break;
        }
        while let Some((_, d)) = peer.poll_transmit() {
            ep.handle_datagram(now, peer.addr(), server_addr(), &d);
        }
    }
    let server_hello = server_hello.expect("a ServerHello");
    assert_eq!(
        u16::from_be_bytes([server_hello[0], server_hello[1]]),
        DTLS_1_2
    );
    assert!(
        extensions(&server_hello, false)
            .iter()
            .all(|(typ, _)| *typ != SUPPORTED_VERSIONS),
        "the server chose DTLS 1.3"
    );

    connect(&mut ep, &mut peer, 1, &mut now);
    peer.send_media(now, "0", None, false, 960, &payload(1, 300))
        .unwrap();
    let events = pump(&mut ep, &mut [&mut peer], now);
    assert!(
        matches!(events[..], [EndpointEvent::Rtp { .. }]),
        "{events:?}"
    );
}
