//! One million hostile datagrams from 20 000 source addresses — random
//! bytes, truncated and mutated STUN, DTLS, RTP and RTCP, some spoofing the
//! live peer's own address — go through the endpoint while a real session
//! is live. Nothing panics, no session or route is created, the live
//! session keeps flowing both ways, and every queue and map stays bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use sfu_net::{EndpointConfig, EndpointEvent};
use sfu_testkit::rng::Rng;

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
    let t0 = Instant::now();
    let mut now = t0;
    let config = EndpointConfig::default();
    let mut ep = endpoint(config.clone());
    let mut peer = audio_peer(now, "198.51.100.7:50000", 1);
    publish(&mut ep, &mut peer, 1, now);
    let audio_ssrc = peer.sending_ssrcs("0")[0].1;

    // Templates: real traffic of the live session and of a stranger.
    // The live peer's first check, which the attacker captured: replays
    // of it are expected.
    let stun_live = first_check(&mut peer, now);
    ep.handle_datagram(now, peer.addr(), server_addr(), &stun_live);
    connect(&mut ep, &mut peer, 1, &mut now);
    let stun_stranger =
        binding_request("strangerufrag", "x", "stranger-password-123456", true, true);
    let client_hello = stranger_client_hello(now, "203.0.113.1:1", 9);
    // Sent to the endpoint (so the live stream has no gap), and kept.
    let srtp_live = take_audio_packet(&mut peer, now, 0, &payload(0, 1000));
    ep.handle_datagram(now, peer.addr(), server_addr(), &srtp_live);
    let until = now + secs(1);
    run(&mut ep, &mut [&mut peer], &mut now, until);
    assert_eq!(peer.stats().sender_reports_sent, 1);
    // The peer's sender report went out in that second; the next one is
    // taken off its queue.
    let until = now + secs(1);
    while peer.poll_timeout().is_some_and(|t| t <= until) {
        let at = peer.poll_timeout().unwrap();
        peer.handle_timeout(at);
    }
    let (_, srtcp_live) = peer.poll_transmit().expect("the next sender report");
    assert!(
        matches!(srtcp_live.get(1), Some(200)),
        "an SRTCP sender report"
    );
    assert!(peer.poll_transmit().is_none());
    now = until;
    let templates: [&[u8]; 5] = [
        &stun_live,
        &stun_stranger,
        &client_hello,
        &srtp_live,
        &srtcp_live,
    ];

    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let mut buf = Vec::with_capacity(2048);
    let mut seq = 0u16;
    let (mut live_sent, mut live_received, mut live_returned) = (0u64, 0u64, 0u64);
    let mut live_rtcp = 0u64;
    let mut spoofed = 0u64;
    let mut replays = 0u64;
    let mut max_queued_transmits = 0;
    let mut max_queued_events = 0;
    let checks_before = peer.stats().checks_sent;
    let datagrams_before = ep.stats().datagrams;
    let responses_before = ep.stats().binding_responses;

    for i in 0..DATAGRAMS {
        // Attacker's datagram: 1% spoof the live peer's own address.
        let src = if i % 100 == 0 {
            spoofed += 1;
            peer.addr()
        } else {
            let n = (i as u32).wrapping_mul(2_654_435_761) % SOURCES;
            SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | n)),
                1024 + (n % 50_000) as u16,
            )
        };
        match rng.below(7) {
            6 if src != peer.addr() => {
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

        // The live session keeps talking, both ways; the peer's own timers
        // send its consent checks (every 5 s) and sender reports (every second).
        if i % 1000 == 0 {
            now += Duration::from_millis(20);
            seq = seq.wrapping_add(1);
            let sent = payload(seq, 1000);
            peer.send_media(now, "0", None, false, 960 * u32::from(seq), &sent)
                .unwrap();
            live_sent += 1;
            if peer.poll_timeout().is_some_and(|t| t <= now) {
                peer.handle_timeout(now);
            }
            while let Some((to, d)) = peer.poll_transmit() {
                live_rtcp += u64::from(matches!(d.get(1), Some(192..=223)));
                ep.handle_datagram(now, peer.addr(), to, &d);
            }
            ep.send_rtp(1, &rtp(seq, 0x5001, 1000)).unwrap();
            ep.handle_timeout(now);
            max_queued_transmits = max_queued_transmits.max(ep.queued_transmits());
            max_queued_events = max_queued_events.max(ep.queued_events());
            while let Some(t) = ep.poll_transmit() {
                if t.destination == peer.addr() {
                    let before = peer.stats().rtp_received;
                    peer.handle_datagram(now, t.source, &t.contents);
                    live_returned += peer.stats().rtp_received - before;
                }
            }
            while let Some(e) = ep.poll_event() {
                match e {
                    EndpointEvent::Rtp { session: 1, packet } => {
                        let (_, _, ssrc, body) = rtp_fields(&packet);
                        assert_eq!((ssrc, body), (audio_ssrc, &sent[..]));
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
    assert_eq!(peer.stats().decrypt_failures, 0);
    assert_eq!(ep.selected_path(1), Some((peer.addr(), server_addr())));
    // 20 simulated seconds: a consent check every 5 s, each answered.
    let checks = peer.stats().checks_sent - checks_before;
    assert!(checks >= 3, "{checks} consent checks");
    assert_eq!(
        stats.binding_responses - responses_before,
        checks,
        "only genuine checks answered"
    );
    assert_eq!(peer.stats().check_responses, peer.stats().checks_sent);
    assert!(live_rtcp >= 19, "{live_rtcp} sender reports");
    assert_eq!(stats.stun_replayed, replays);
    assert!(replays > 100_000);
    assert_eq!(stats.sessions_failed, 0);
    assert!(stats.datagrams - datagrams_before >= DATAGRAMS);
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
    // What remains came from the live path: its handshake, its media and
    // RTCP, and hostile DTLS spoofing that path.
    // The SRTP template was delivered, the SRTCP one was not.
    let live_media = (live_sent + 1) + (peer.stats().rtcp_sent - 1);
    let dtls_from_live_path = stats.datagrams - dropped - stats.binding_responses - live_media;
    assert!(
        dtls_from_live_path <= spoofed,
        "{dtls_from_live_path} datagrams unaccounted for"
    );
}
