//! One million hostile datagrams from 20 000 source addresses — random
//! bytes, truncated and mutated STUN, DTLS, RTP and RTCP, some spoofing the
//! live peer's own address — go through the endpoint while a real session
//! is live. Nothing panics, no session or route is created, the live
//! session keeps flowing both ways, and every queue and map stays bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use sfu_testkit::rng::Rng;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::*;
use sfu_net::{EndpointConfig, EndpointEvent};

const DATAGRAMS: u64 = 1_000_000;
const SOURCES: u32 = 20_000;

fn mutate(rng: &mut Rng, template: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(template);
    match rng.below(4) {
        0 => out.truncate(rng.below(template.len() + 1)),
        1 => {
            for _ in 0..1 + rng.below(4) {
                if !out.is_empty() {
                    let i = rng.below(out.len());
                    out[i] ^= 1 << rng.below(8);
                }
            }
        }
        2 => {
            // Keep the first byte (so the demux routes it) and randomise the rest.
            for b in out.iter_mut().skip(1 + rng.below(24)) {
                *b = rng.next_u64() as u8;
            }
        }
        _ => {
            let extra = rng.below(64);
            out.extend((0..extra).map(|_| rng.next_u64() as u8));
            if out.len() > 4 {
                let i = 2 + rng.below(out.len() - 2);
                out[i] = rng.next_u64() as u8;
            }
        }
    }
    // A mutation that changed nothing would be a replay: that case is sent
    // on purpose, separately.
    if out[..] == template[..] {
        let i = rng.below(out.len());
        out[i] ^= 0x80;
    }
}

#[test]
fn million_hostile_datagrams_do_not_disturb_a_live_session() {
    let t0 = std::time::Instant::now();
    let config = EndpointConfig::default();
    let mut ep = endpoint(config.clone());
    let (mut peer, session) = Peer::join(
        &mut ep,
        t0,
        "198.51.100.7:50000",
        1,
        vec![0x1111, 0x2222],
        None,
    );
    connect(&mut ep, &mut peer, session, t0);

    // Templates: real traffic of the live session and of a stranger.
    // A genuine check the attacker captured: replays of it are expected.
    let stun_live = peer.check(true);
    ep.handle_datagram(t0, peer.addr, server_addr(), &stun_live);
    pump(&mut ep, &mut [&mut peer], t0);
    let stun_stranger =
        binding_request("strangerufrag", "x", "stranger-password-123456", true, true);
    let (mut other, _) = {
        let mut scratch = endpoint(EndpointConfig::default());
        Peer::join(&mut scratch, t0, "203.0.113.1:1", 9, vec![], None)
    };
    other.start_dtls(t0);
    let client_hello = other.dtls_out.remove(0);
    let srtp_live = peer.protect_rtp(0, 0x1111, 1000);
    let srtcp_live = peer.protect_rtcp(0x2222);
    let templates: [&[u8]; 5] = [
        &stun_live,
        &stun_stranger,
        &client_hello,
        &srtp_live,
        &srtcp_live,
    ];

    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let mut buf = Vec::with_capacity(2048);
    let mut now = t0;
    let mut seq = 0u16;
    let (mut live_sent, mut live_received, mut live_returned) = (0u64, 0u64, 0u64);
    let mut spoofed = 0u64;
    let mut replays = 0u64;
    let mut max_queued_transmits = 0;
    let mut max_queued_events = 0;

    for i in 0..DATAGRAMS {
        // Attacker's datagram: 1% spoof the live peer's own address.
        let src = if i % 100 == 0 {
            spoofed += 1;
            peer.addr
        } else {
            let n = (i as u32).wrapping_mul(2_654_435_761) % SOURCES;
            SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | n)),
                1024 + (n % 50_000) as u16,
            )
        };
        match rng.below(7) {
            6 if src != peer.addr => {
                buf.clear();
                buf.extend_from_slice(&stun_live);
                replays += 1;
            }
            k @ 1..=5 => mutate(&mut rng, templates[k - 1], &mut buf),
            _ => {
                buf.clear();
                let len = rng.below(1500);
                buf.extend((0..len).map(|_| rng.next_u64() as u8));
            }
        }
        ep.handle_datagram(now, src, server_addr(), &buf);

        // The live session keeps talking, both ways.
        if i % 1000 == 0 {
            now += Duration::from_millis(20);
            seq = seq.wrapping_add(1);
            let wire = peer.protect_rtp(seq, 0x1111, 1000);
            ep.handle_datagram(now, peer.addr, server_addr(), &wire);
            live_sent += 1;
            ep.send_rtp(session, &rtp(seq, 0x5001, 1000)).unwrap();
            if i % 100_000 == 0 {
                // Consent: a genuine check every two simulated seconds.
                ep.handle_datagram(now, peer.addr, server_addr(), &peer.check(false));
            }
            ep.handle_timeout(now);
            max_queued_transmits = max_queued_transmits.max(ep.queued_transmits());
            max_queued_events = max_queued_events.max(ep.queued_events());
            while let Some(t) = ep.poll_transmit() {
                if t.destination == peer.addr {
                    let before = peer.rtp.len();
                    peer.receive(now, &t.contents);
                    live_returned += (peer.rtp.len() - before) as u64;
                }
            }
            while let Some(e) = ep.poll_event() {
                match e {
                    EndpointEvent::Rtp { session: s, packet } if s == session => {
                        assert_eq!(packet[..], rtp(seq, 0x1111, 1000)[..]);
                        live_received += 1;
                    }
                    EndpointEvent::Closed { .. } | EndpointEvent::Connected { .. } => {
                        panic!("unexpected {e:?}")
                    }
                    _ => {}
                }
            }
            // Nothing from strangers creates state.
            assert_eq!(ep.session_count(), 1);
            assert_eq!(ep.ufrag_route_count(), 1);
            assert_eq!(ep.path_route_count(), 1);
        }
    }

    let stats = ep.stats();
    eprintln!("{stats:#?}");
    assert_eq!(live_received, live_sent, "live RTP lost under attack");
    assert_eq!(
        live_returned, live_sent,
        "RTP to the live peer lost under attack"
    );
    assert_eq!(ep.selected_path(session), Some((peer.addr, server_addr())));
    assert_eq!(
        stats.binding_responses,
        2 + DATAGRAMS / 100_000,
        "only genuine checks answered"
    );
    assert_eq!(stats.stun_replayed, replays);
    assert!(replays > 100_000);
    assert_eq!(stats.sessions_failed, 0);
    assert!(stats.datagrams >= DATAGRAMS);
    assert!(spoofed >= 10_000);
    // Bounded: the queues never grew past one interval's legitimate traffic.
    assert!(
        max_queued_transmits <= 4,
        "transmit queue grew to {max_queued_transmits}"
    );
    assert!(
        max_queued_events <= 4,
        "event queue grew to {max_queued_events}"
    );
    // Every hostile datagram was dropped for a counted reason.
    let dropped = stats.unknown_kind
        + stats.stun_malformed
        + stats.stun_not_binding_request
        + stats.stun_unknown_ufrag
        + stats.stun_bad_fingerprint
        + stats.stun_bad_integrity
        + stats.stun_wrong_remote_ufrag
        + stats.stun_replayed
        + stats.dtls_unknown_source
        + stats.media_unknown_source
        + stats.srtp_malformed
        + stats.srtp_ssrc_not_negotiated
        + stats.srtp_replayed
        + stats.srtp_auth_failed;
    let dtls_from_live_path = stats.datagrams - dropped - stats.binding_responses - live_sent;
    assert!(
        dtls_from_live_path <= spoofed,
        "{dtls_from_live_path} datagrams unaccounted for"
    );
}
