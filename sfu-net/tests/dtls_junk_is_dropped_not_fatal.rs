//! DTLS junk from a session's own (ICE-verified) path is dropped and
//! counted (`EndpointStats::dtls_records_dropped`), never fatal: a live
//! session keeps its media flowing through it, and a session in the middle
//! of its handshake still completes it. dimpl's receive queue holds 30
//! datagrams; before, the 31st junk fragment of a handshake made dimpl
//! return `ReceiveQueueFull`, the endpoint took it as fatal and removed the
//! session.
//!
//! What still closes a session: the peer's fatal alert, and the handshake
//! timeout. Forged fragments that look like the client's own (the right
//! message types and sequence numbers, inside their message) are forwarded
//! to dimpl; if they fill its queue the real flight is refused (counted)
//! and the handshake times out — the last test pins that limit down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use sfu_net::{CloseReason, EndpointConfig, EndpointEvent};
use sfu_testkit::peer::Peer;

const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
const CERTIFICATE: u8 = 11;
const SERVER_HELLO: u8 = 2;

/// One DTLS 1.2 record.
fn record(content_type: u8, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
    record_v(content_type, 0xfefd, epoch, seq, body)
}

fn record_v(content_type: u8, version: u16, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type];
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&epoch.to_be_bytes());
    r.extend_from_slice(&seq.to_be_bytes()[2..]);
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// One handshake message fragment.
fn fragment(msg_type: u8, length: u32, message_seq: u16, offset: u32, data: &[u8]) -> Vec<u8> {
    let mut h = vec![msg_type];
    h.extend_from_slice(&length.to_be_bytes()[1..]);
    h.extend_from_slice(&message_seq.to_be_bytes());
    h.extend_from_slice(&offset.to_be_bytes()[1..]);
    h.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    h.extend_from_slice(data);
    h
}

/// The `i`-th of a stream of records no DTLS 1.2 client sends, each of
/// which dimpl alone would have queued or choked on. `i` varies sequence
/// numbers and offsets, so no two are duplicates.
fn impossible(i: u32) -> Vec<u8> {
    let data = [0xAB; 50];
    let seq = 1000 + u64::from(i);
    let n = i / 12;
    match i % 12 {
        // A message sequence number past any client flight.
        0 => record(
            HANDSHAKE,
            0,
            seq,
            &fragment(CERTIFICATE, 4000, 300 + n as u16, 0, &data),
        ),
        // A message only a server sends.
        1 => record(
            HANDSHAKE,
            0,
            seq,
            &fragment(SERVER_HELLO, 4000, 1, n * 50, &data),
        ),
        // An unknown message type.
        2 => record(HANDSHAKE, 0, seq, &fragment(99, 4000, 1, n * 50, &data)),
        // A fragment that ends past its message.
        3 => record(
            HANDSHAKE,
            0,
            seq,
            &fragment(CERTIFICATE, 100, 1, 60 + n, &data),
        ),
        // A handshake record that holds no whole fragment header.
        4 => record(HANDSHAKE, 0, seq, &data[..7]),
        // A message of 16 MiB.
        5 => record(
            HANDSHAKE,
            0,
            seq,
            &fragment(CERTIFICATE, 0xff_ffff, 1, n * 50, &data),
        ),
        // An empty fragment of a non-empty message.
        6 => record(
            HANDSHAKE,
            0,
            seq,
            &fragment(CERTIFICATE, 4000, 1, n * 50, &[]),
        ),
        // A ChangeCipherSpec that is not the one-byte message.
        7 => record(CHANGE_CIPHER_SPEC, 0, seq, &[1, 1]),
        // Application data in plaintext.
        8 => record(APPLICATION_DATA, 0, seq, &data),
        // An epoch no DTLS 1.2 connection reaches.
        9 => record(HANDSHAKE, 2, seq, &data),
        // Not DTLS 1.0 or 1.2.
        10 => record_v(
            HANDSHAKE,
            0x0303,
            0,
            seq,
            &fragment(CERTIFICATE, 4000, 1, n * 50, &data),
        ),
        // A record cut short: its header promises more than the datagram has.
        _ => {
            let mut r = record(
                HANDSHAKE,
                0,
                seq,
                &fragment(CERTIFICATE, 4000, 1, n * 50, &data),
            );
            r.truncate(30);
            r
        }
    }
}

/// A fragment of the client's Certificate message as a forger would make
/// it: the right type and sequence number, inside its message. Offsets
/// start past 0 so that none duplicates the real first fragment.
fn forged_certificate_fragment(i: u32) -> Vec<u8> {
    record(
        HANDSHAKE,
        0,
        5000 + u64::from(i),
        &fragment(CERTIFICATE, 4000, 1, 20 + i * 30, &[0xCD; 30]),
    )
}

/// An endpoint, a session for a fresh audio peer, and the peer's check
/// answered and its ClientHello handled: the endpoint has sent its first
/// flight and waits for the client's second.
fn mid_handshake(now: Instant) -> (Endpoint, Peer) {
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(now, "198.51.100.7:50000", 1);
    publish(&mut ep, &mut peer, 1, now);
    let check = first_check(&mut peer, now);
    ep.handle_datagram(now, peer.addr(), server_addr(), &check);
    let reply = ep.poll_transmit().expect("the check is answered");
    peer.handle_datagram(now, reply.source, &reply.contents);
    let (_, hello) = peer.poll_transmit().expect("a ClientHello");
    ep.handle_datagram(now, peer.addr(), server_addr(), &hello);
    // The endpoint's flight stays queued: it is delivered after the junk.
    assert!(ep.queued_transmits() > 0, "the server's first flight");
    (ep, peer)
}

/// Sends `records` from the peer's own address; panics if the session
/// closes.
fn send_junk(ep: &mut Endpoint, peer: &Peer, now: Instant, records: impl Iterator<Item = Vec<u8>>) {
    for (i, r) in records.enumerate() {
        ep.handle_datagram(now, peer.addr(), server_addr(), &r);
        assert_eq!(
            ep.session_count(),
            1,
            "the session closed at junk record {i}"
        );
    }
}

#[test]
fn live_session_keeps_flowing_through_100_junk_records() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(now, "198.51.100.7:50000", 1);
    publish(&mut ep, &mut peer, 1, now);
    connect(&mut ep, &mut peer, 1, &mut now);
    let before = ep.stats();

    let mut received = 0;
    for i in 0..100u32 {
        // Junk the screen drops, then junk it lets through to dimpl, which
        // discards it after the handshake: forged plaintext handshakes,
        // ChangeCipherSpecs, an unauthenticated fatal alert, epoch-1
        // records that do not decrypt.
        ep.handle_datagram(now, peer.addr(), server_addr(), &impossible(i));
        let passed = match i % 5 {
            0 => forged_certificate_fragment(i),
            1 => record(CHANGE_CIPHER_SPEC, 0, 9000 + u64::from(i), &[1]),
            2 => record(ALERT, 0, 9000 + u64::from(i), &[2, 40]),
            3 => record(HANDSHAKE, 1, 9000 + u64::from(i), &[0x5A; 48]),
            _ => record(APPLICATION_DATA, 1, 9000 + u64::from(i), &[0x5A; 48]),
        };
        ep.handle_datagram(now, peer.addr(), server_addr(), &passed);

        now += Duration::from_millis(20);
        peer.send_media(now, "0", None, false, 960 * i, &payload(i as u16, 200))
            .unwrap();
        for e in pump(&mut ep, &mut [&mut peer], now) {
            match e {
                EndpointEvent::Rtp { session: 1, .. } => received += 1,
                EndpointEvent::Closed { .. } => panic!("the live session closed: {e:?}"),
                _ => {}
            }
        }
    }

    assert_eq!(received, 100, "media kept flowing");
    assert_eq!(ep.session_count(), 1);
    let stats = ep.stats();
    assert_eq!(stats.sessions_failed, before.sessions_failed);
    assert_eq!(
        stats.dtls_records_dropped - before.dtls_records_dropped,
        100,
        "every record the screen drops is counted"
    );
    // The endpoint still answers on the session.
    ep.send_rtp(1, &rtp(1, 0x5001, 100)).unwrap();
    let t = ep.poll_transmit().expect("media to the peer");
    peer.handle_datagram(now, t.source, &t.contents);
    assert_eq!(peer.stats().rtp_received, 1);
}

#[test]
fn junk_mid_handshake_is_dropped_and_the_handshake_completes() {
    let mut now = Instant::now();
    let (mut ep, mut peer) = mid_handshake(now);

    // 100 records no client sends, and 20 well-formed ChangeCipherSpecs
    // (only a few are let through before the handshake completes: they are
    // all alike, any one of them serves).
    send_junk(&mut ep, &peer, now, (0..100).map(impossible));
    send_junk(
        &mut ep,
        &peer,
        now,
        (0..20).map(|i| record(CHANGE_CIPHER_SPEC, 0, 7000 + i, &[1])),
    );
    let dropped = ep.stats().dtls_records_dropped;
    assert!(dropped >= 100 + 10, "{dropped} records dropped");

    let events = connect(&mut ep, &mut peer, 1, &mut now);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EndpointEvent::Closed { .. })),
        "{events:?}"
    );
    assert_eq!(ep.stats().sessions_failed, 0);
    assert_media_reaches_session_1(&mut ep, &mut peer, now);
}

#[test]
fn peer_fatal_alert_mid_handshake_still_closes_the_session() {
    let now = Instant::now();
    let (mut ep, peer) = mid_handshake(now);
    // handshake_failure, fatal: what a client that rejects our flight says.
    ep.handle_datagram(
        now,
        peer.addr(),
        server_addr(),
        &record(ALERT, 0, 1, &[2, 40]),
    );
    assert_eq!(ep.session_count(), 0);
    let closed = std::iter::from_fn(|| ep.poll_event())
        .find(|e| matches!(e, EndpointEvent::Closed { .. }))
        .expect("a Closed event");
    assert!(
        matches!(
            closed,
            EndpointEvent::Closed {
                session: 1,
                reason: CloseReason::Failed(_)
            }
        ),
        "{closed:?}"
    );
    assert_eq!(ep.stats().sessions_failed, 1);
}

#[test]
fn forged_client_fragments_are_not_fatal_but_the_handshake_times_out() {
    let mut now = Instant::now();
    let (mut ep, mut peer) = mid_handshake(now);
    send_junk(
        &mut ep,
        &peer,
        now,
        (0..100).map(forged_certificate_fragment),
    );
    // dimpl queued the first 30 (they look like the client's Certificate);
    // the other 70 found its queue full and were dropped and counted.
    assert_eq!(ep.stats().dtls_records_dropped, 70);
    assert_eq!(ep.stats().sessions_failed, 0);

    // The queue stays full of them, so the client's real flight is refused
    // too, and the handshake ends as any stalled one does: on its timeout,
    // a genuine failure.
    let until = now + Duration::from_secs(60);
    let events = run(&mut ep, &mut [&mut peer], &mut now, until);
    assert!(!peer.is_connected());
    assert!(
        events.iter().any(|e| matches!(
            e,
            EndpointEvent::Closed {
                session: 1,
                reason: CloseReason::Failed(_)
            }
        )),
        "{events:?}"
    );
    assert!(
        ep.stats().dtls_records_dropped > 70,
        "the refused flight is counted"
    );
}
