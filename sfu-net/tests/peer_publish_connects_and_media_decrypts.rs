//! The stand-in peer publishes to the real endpoint: its Chromium-style
//! offer is answered by `PublishOffer`, it connects (ICE check, DTLS
//! client with the endpoint's fingerprint enforced, SRTP), and the media it
//! sends arrives as `Rtp` events that decrypt to what it sent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use sfu_net::sdp::{Direction, ExtensionUri};
use sfu_net::{EndpointConfig, EndpointEvent, SrtpProfile};
use sfu_testkit::peer::{Peer, PeerConfig};

#[test]
fn publish_offer_is_answered_peer_connects_and_media_arrives_decrypted() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = Peer::new(
        now,
        PeerConfig::new(addr("198.51.100.7:50000"), 1)
            .send_audio()
            .send_video(),
    );
    let Published { offer, answer, .. } = publish_sdp(&mut ep, &mut peer, 1, now, Setup::default());

    // The SFU read the offer as Chromium's: two sending sections, RTX paired.
    let sections = &offer.description().sections;
    assert_eq!(sections.len(), 2);
    assert!(sections.iter().all(|s| s.direction == Direction::SendOnly));
    assert_eq!(sections[1].rtx_pairs.len(), 1);
    assert_eq!(answer.sections[1].rtx_for(96).map(|c| c.pt), Some(97));
    let mid_id = answer.sections[0]
        .extension_id(&ExtensionUri::Mid)
        .expect("mid extension kept");
    assert_eq!(mid_id, 4, "Chromium's id for the mid extension");

    let events = connect(&mut ep, &mut peer, 1, &mut now);
    assert!(events.iter().any(|e| matches!(
        e,
        EndpointEvent::PathSelected { session: 1, remote, local }
            if *remote == peer.addr() && *local == addr(SERVER)
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        EndpointEvent::Connected {
            session: 1,
            profile: SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm
        }
    )));
    assert!(peer.srtp_profile().is_some());
    assert!(peer.stats().checks_sent >= 1 && peer.stats().check_responses >= 1);

    // 10 Opus packets and 5 VP8 frames of 3 packets, the first a key frame.
    let mut received = Vec::new();
    for frame in 0..5 {
        for _ in 0..2 {
            peer.send_opus(now, "0").unwrap();
        }
        peer.send_vp8_frame(now, "1", None, frame == 0, 3).unwrap();
        let until = now + Duration::from_millis(40);
        received.extend(run(&mut ep, &mut [&mut peer], &mut now, until));
    }
    let packets: Vec<_> = received
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Rtp { session: 1, packet } => Some(packet.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(packets.len(), 10 + 15);
    assert_eq!(peer.stats().rtp_sent, 25);

    let audio_ssrc = peer.sending_ssrcs("0")[0].1;
    let (_, video_ssrc, video_rtx) = peer.sending_ssrcs("1")[0];
    assert!(video_rtx.is_some());
    let mut last_seq: BTreeMap<u32, u16> = BTreeMap::new();
    let mut video = Vec::new();
    for p in &packets {
        let (pt, seq, ssrc, payload) = rtp_fields(p);
        let mid = rtp_extension(p, mid_id).expect("every packet names its mid");
        match ssrc {
            s if s == audio_ssrc => {
                assert_eq!((pt, &mid[..]), (111, &b"0"[..]));
                assert_eq!(payload[0], 0xfc, "Opus TOC byte");
            }
            s if s == video_ssrc => {
                assert_eq!((pt, &mid[..]), (96, &b"1"[..]));
                video.push((seq, p[1] & 0x80 != 0, payload.to_vec()));
            }
            other => panic!("unexpected SSRC {other:#x}"),
        }
        if let Some(prev) = last_seq.insert(ssrc, seq) {
            assert_eq!(seq, prev.wrapping_add(1), "contiguous sequence numbers");
        }
    }
    // VP8: S bit and PictureID on each frame's first packet; the key
    // frame's payload header has P = 0, later frames P = 1; marker last.
    for (i, frame) in video.chunks(3).enumerate() {
        let first = &frame[0].2;
        assert_eq!(first[0] & 0x10, 0x10, "S bit on the first packet");
        assert_eq!(first[1] & 0x80, 0x80, "PictureID present");
        let p_bit = first[4] & 0x01;
        assert_eq!(p_bit, u8::from(i != 0), "frame {i} key frame bit");
        if i == 0 {
            assert_eq!(&first[7..10], &[0x9d, 0x01, 0x2a], "key frame start code");
        }
        assert!(
            !frame[0].1 && !frame[1].1 && frame[2].1,
            "marker on the last packet"
        );
    }

    // Within a second, a sender report for each SSRC that sent media.
    let until = now + Duration::from_millis(1100);
    let events = run(&mut ep, &mut [&mut peer], &mut now, until);
    let mut reported = Vec::new();
    for e in &events {
        if let EndpointEvent::Rtcp { session: 1, packet } = e {
            let mut p = &packet[..];
            while p.len() >= 8 {
                if p[1] == 200 {
                    reported.push(u32::from_be_bytes([p[4], p[5], p[6], p[7]]));
                }
                let len = 4 * (usize::from(u16::from_be_bytes([p[2], p[3]])) + 1);
                p = &p[len.min(p.len())..];
            }
        }
    }
    reported.sort_unstable();
    let mut expected = vec![audio_ssrc, video_ssrc];
    expected.sort_unstable();
    assert_eq!(reported, expected);
    assert_eq!(peer.stats().sender_reports_sent, 2);
}

#[test]
fn ipv6_peer_checks_the_ipv6_candidate() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = Peer::new(
        now,
        PeerConfig::new(addr("[2001:db8::7]:50000"), 2).send_audio(),
    );
    publish(&mut ep, &mut peer, 2, now);
    let events = connect(&mut ep, &mut peer, 2, &mut now);
    assert!(events.iter().any(|e| matches!(
        e,
        EndpointEvent::PathSelected { session: 2, local, .. } if *local == addr(SERVER_V6)
    )));
    peer.send_opus(now, "0").unwrap();
    let until = now + Duration::from_millis(20);
    let events = run(&mut ep, &mut [&mut peer], &mut now, until);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EndpointEvent::Rtp { session: 2, .. }))
    );
}

#[test]
fn hybrid_client_hello_connects_too() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = Peer::new(
        now,
        PeerConfig::new(addr("198.51.100.9:50000"), 3)
            .send_video()
            .hybrid_client_hello(),
    );
    publish(&mut ep, &mut peer, 3, now);
    connect(&mut ep, &mut peer, 3, &mut now);
}

#[test]
fn the_same_seed_gives_the_same_offer() {
    let now = Instant::now();
    let config = PeerConfig::new(addr("198.51.100.7:50000"), 42)
        .send_audio()
        .send_simulcast(&["q", "h", "f"])
        .receive_video();
    let a = Peer::new(now, config.clone()).create_offer();
    let b = Peer::new(now, config).create_offer();
    assert_eq!(a, b);
    let other = Peer::new(
        now,
        PeerConfig::new(addr("198.51.100.7:50000"), 43).send_audio(),
    )
    .create_offer();
    assert_ne!(a.lines().nth(1), other.lines().nth(1), "o= line differs");
}
