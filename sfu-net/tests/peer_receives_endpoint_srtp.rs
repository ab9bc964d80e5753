//! The stand-in peer views: `ViewerOffer` answers its recvonly offer with
//! the SFU's SSRCs, the endpoint sends SRTP with `Endpoint::send_rtp`, and
//! the peer decrypts and records it by mid, NACKs a gap, decodes the RTX
//! repair, sends receiver reports and a PLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use sfu_net::sdp::{
    Capabilities, CodecName, MediaKind, Msid, OutgoingTrack, PayloadFormat, SectionSender,
    ViewerOffer,
};
use sfu_net::{EndpointConfig, EndpointEvent, TransportConfig};
use sfu_testkit::peer::{Peer, PeerConfig};

const AUDIO_SSRC: u32 = 0x5001;
const VIDEO_SSRC: u32 = 0x6001;
const VIDEO_RTX_SSRC: u32 = 0x6002;

fn format(pt: u8, name: CodecName, clock_rate: u32, channels: Option<u16>) -> PayloadFormat {
    PayloadFormat {
        pt,
        name,
        clock_rate,
        channels,
        fmtp: None,
        rtcp_fb: Vec::new(),
    }
}

fn track(kind: MediaKind, codec: PayloadFormat, ssrc: u32, rtx_ssrc: Option<u32>) -> OutgoingTrack {
    OutgoingTrack {
        kind,
        codec,
        ssrc,
        rtx_ssrc,
        msid: Msid {
            stream: "publisher".into(),
            track: format!("track-{ssrc:x}"),
        },
        cname: "publisher-cname".into(),
    }
}

/// RTCP packets (type, FMT, media SSRC) inside the endpoint's Rtcp events.
fn rtcp_of(events: &[Event]) -> Vec<(u8, u8, u32)> {
    let mut out = Vec::new();
    for e in events {
        let EndpointEvent::Rtcp { packet, .. } = e else {
            continue;
        };
        let mut p = &packet[..];
        while p.len() >= 8 {
            let len = 4 * (usize::from(u16::from_be_bytes([p[2], p[3]])) + 1);
            let media = if p.len() >= 12 {
                u32::from_be_bytes([p[8], p[9], p[10], p[11]])
            } else {
                0
            };
            out.push((p[1], p[0] & 0x1f, media));
            p = &p[len.min(p.len())..];
        }
    }
    out
}

#[test]
fn endpoint_srtp_is_decrypted_recorded_nacked_repaired_and_reported() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = Peer::new(
        now,
        PeerConfig::new(addr("198.51.100.20:50000"), 5)
            .receive_audio()
            .receive_video(),
    );
    let (credentials, local) = local_transport(&ep, 5);
    let offer = ViewerOffer::parse(&peer.create_offer()).unwrap();
    let senders = [
        SectionSender {
            mid: "0".into(),
            track: track(
                MediaKind::Audio,
                format(111, CodecName::Opus, 48_000, Some(2)),
                AUDIO_SSRC,
                None,
            ),
        },
        SectionSender {
            mid: "1".into(),
            track: track(
                MediaKind::Video,
                format(96, CodecName::Vp8, 90_000, None),
                VIDEO_SSRC,
                Some(VIDEO_RTX_SSRC),
            ),
        },
    ];
    let answer = offer
        .answer(&local, &Capabilities::default(), &senders)
        .unwrap();
    ep.add_session(
        now,
        5,
        TransportConfig {
            credentials,
            remote_ufrag: Some(offer.remote().ice.ufrag.clone()),
            remote_fingerprint: offer.remote().fingerprint,
            // A recvonly peer's RTCP SSRC is in no SDP line.
            remote_ssrcs: peer.local_ssrcs(),
            learn_remote_ssrcs: false,
        },
    )
    .unwrap();
    peer.apply_answer(&answer.to_sdp()).unwrap();
    assert_eq!(peer.remote_ssrcs("0"), vec![(AUDIO_SSRC, None)]);
    assert_eq!(
        peer.remote_ssrcs("1"),
        vec![(VIDEO_SSRC, Some(VIDEO_RTX_SSRC))]
    );
    connect(&mut ep, &mut peer, 5, &mut now);

    // Video 100..=119 with 105 lost on the way, and five audio packets.
    for seq in 100..120u16 {
        if seq != 105 {
            let p = rtp_packet(96, seq, 3000 * u32::from(seq), VIDEO_SSRC, &[seq as u8; 50]);
            ep.send_rtp(5, &p).unwrap();
        }
    }
    for seq in 0..5u16 {
        let p = rtp_packet(111, seq, 960 * u32::from(seq), AUDIO_SSRC, &[0xfc, 1, 2]);
        ep.send_rtp(5, &p).unwrap();
    }
    let mut events = Vec::new();
    deliver(&mut ep, &mut [&mut peer], now, &mut events);
    // The gap is NACKed at once (RFC 4585 generic NACK for the media SSRC).
    assert!(rtcp_of(&events).contains(&(205, 1, VIDEO_SSRC)));
    assert_eq!(peer.stats().nacks_sent, 1);
    assert_eq!(peer.stats().nacked_packets, 1);

    // Still missing 100 ms later: NACKed again.
    let until = now + Duration::from_millis(150);
    let events = run(&mut ep, &mut [&mut peer], &mut now, until);
    assert!(rtcp_of(&events).contains(&(205, 1, VIDEO_SSRC)));
    assert_eq!(peer.stats().nacks_sent, 2);

    // The repair arrives as RTX (PT 97, OSN first): the NACKs stop.
    let mut rtx_payload = 105u16.to_be_bytes().to_vec();
    rtx_payload.extend_from_slice(&[105u8; 50]);
    let rtx = rtp_packet(97, 7000, 3000 * 105, VIDEO_RTX_SSRC, &rtx_payload);
    ep.send_rtp(5, &rtx).unwrap();
    let until = now + Duration::from_millis(900);
    let events = run(&mut ep, &mut [&mut peer], &mut now, until);
    assert_eq!(peer.stats().nacks_sent, 2, "nothing missing any more");
    // Receiver reports every second, one block per received SSRC.
    assert!(
        rtcp_of(&events)
            .iter()
            .any(|(pt, count, _)| *pt == 201 && *count == 2)
    );
    assert!(peer.stats().receiver_reports_sent >= 1);

    let received = peer.take_received();
    assert_eq!(received.len(), 19 + 5 + 1);
    let video: Vec<_> = received
        .iter()
        .filter(|r| r.mid.as_deref() == Some("1"))
        .collect();
    let audio: Vec<_> = received
        .iter()
        .filter(|r| r.mid.as_deref() == Some("0"))
        .collect();
    assert_eq!((video.len(), audio.len()), (20, 5));
    assert!(
        audio
            .iter()
            .all(|r| r.ssrc == AUDIO_SSRC && r.pt == 111 && !r.rtx)
    );
    let repaired = video.iter().find(|r| r.rtx).expect("the RTX packet");
    assert_eq!(
        (repaired.ssrc, repaired.seq, repaired.pt, repaired.timestamp),
        (VIDEO_SSRC, 105, 97, 3000 * 105)
    );
    assert_eq!(repaired.payload, vec![105u8; 50]);
    let mut seqs: Vec<u16> = video.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (100..120).collect::<Vec<_>>());
    assert_eq!(peer.stats().rtx_received, 1);
    assert_eq!(peer.stats().decrypt_failures, 0);

    // A PLI for what the peer receives on mid 1.
    peer.request_keyframe(now, "1").unwrap();
    let mut events = Vec::new();
    deliver(&mut ep, &mut [&mut peer], now, &mut events);
    assert!(rtcp_of(&events).contains(&(206, 1, VIDEO_SSRC)));
    assert_eq!(peer.stats().plis_sent, 1);
}

#[test]
fn nacks_give_up_after_five_retries() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = Peer::new(
        now,
        PeerConfig::new(addr("198.51.100.21:50000"), 6).receive_video(),
    );
    let (credentials, local) = local_transport(&ep, 6);
    let offer = ViewerOffer::parse(&peer.create_offer()).unwrap();
    let senders = [SectionSender {
        mid: "0".into(),
        track: track(
            MediaKind::Video,
            format(96, CodecName::Vp8, 90_000, None),
            VIDEO_SSRC,
            Some(VIDEO_RTX_SSRC),
        ),
    }];
    let answer = offer
        .answer(&local, &Capabilities::default(), &senders)
        .unwrap();
    ep.add_session(
        now,
        6,
        TransportConfig {
            credentials,
            remote_ufrag: Some(offer.remote().ice.ufrag.clone()),
            remote_fingerprint: offer.remote().fingerprint,
            remote_ssrcs: Vec::new(),
            // The receiver SSRC is learned once its RTCP authenticates.
            learn_remote_ssrcs: true,
        },
    )
    .unwrap();
    peer.apply_answer(&answer.to_sdp()).unwrap();
    connect(&mut ep, &mut peer, 6, &mut now);
    for seq in [10u16, 12] {
        ep.send_rtp(6, &rtp_packet(96, seq, 0, VIDEO_SSRC, &[1; 20]))
            .unwrap();
    }
    let until = now + Duration::from_secs(2);
    let events = run(&mut ep, &mut [&mut peer], &mut now, until);
    let nacks = rtcp_of(&events)
        .iter()
        .filter(|r| **r == (205, 1, VIDEO_SSRC))
        .count();
    assert_eq!(nacks, 1 + 5, "first NACK and five retries");
    assert_eq!(peer.stats().nacks_sent, 6);
}
