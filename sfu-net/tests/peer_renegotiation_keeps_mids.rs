//! Renegotiation both ways with the real SDP module: the peer answers the
//! SFU's offers (`Negotiation::add_track` / `stop` + `create_offer`) and the
//! SFU accepts those answers; the peer adds a section and re-offers and the
//! SFU answers that. Mids, order and ICE/DTLS parameters stay; media keeps
//! flowing on the same connection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use sfu_net::sdp::{
    Capabilities, CodecName, MediaKind, Msid, Negotiation, OutgoingTrack, PayloadFormat,
    SectionPlan,
};
use sfu_net::{EndpointConfig, EndpointEvent};
use sfu_testkit::peer::{Direction, Peer, PeerConfig};

const PULLED_SSRC: u32 = 0x7001;
const PULLED_RTX_SSRC: u32 = 0x7002;

fn pulled_video() -> OutgoingTrack {
    OutgoingTrack {
        kind: MediaKind::Video,
        codec: PayloadFormat {
            pt: 96,
            name: CodecName::Vp8,
            clock_rate: 90_000,
            channels: None,
            fmtp: None,
            rtcp_fb: Vec::new(),
        },
        ssrc: PULLED_SSRC,
        rtx_ssrc: Some(PULLED_RTX_SSRC),
        msid: Msid {
            stream: "other".into(),
            track: "other-video".into(),
        },
        cname: "other-cname".into(),
    }
}

fn ufrag_lines(sdp: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = sdp
        .lines()
        .filter(|l| l.starts_with("a=ice-ufrag") || l.starts_with("a=fingerprint"))
        .collect();
    lines.sort_unstable();
    lines.dedup();
    lines
}

#[test]
fn peer_answers_sfu_offers_and_the_sfu_accepts_the_answers() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = Peer::new(
        now,
        PeerConfig::new(addr("198.51.100.30:50000"), 9)
            .send_audio()
            .send_video(),
    );
    let first_offer_text = peer.create_offer();
    let (credentials, local) = local_transport(&ep, 9);
    let offer = sfu_net::sdp::PublishOffer::parse(&first_offer_text).unwrap();
    let answer = offer.answer(&local, &Capabilities::default()).unwrap();
    ep.add_session(
        now,
        9,
        sfu_net::TransportConfig {
            credentials,
            remote_ufrag: Some(offer.remote().ice.ufrag.clone()),
            remote_fingerprint: offer.remote().fingerprint,
            remote_ssrcs: peer.local_ssrcs(),
            learn_remote_ssrcs: false,
        },
    )
    .unwrap();
    peer.apply_answer(&answer.to_sdp()).unwrap();
    connect(&mut ep, &mut peer, 9, &mut now);

    // The SFU adds a track for the peer to receive.
    let mut neg =
        Negotiation::from_publish(&offer, &answer, local.clone(), Capabilities::default());
    let mid = neg.add_track(&pulled_video()).unwrap();
    let sfu_offer = neg.create_offer().unwrap().to_sdp();
    let peer_answer = peer.accept_offer(&sfu_offer).unwrap();
    neg.apply_answer(&peer_answer)
        .expect("the SFU accepts the peer's answer");
    assert_eq!(ufrag_lines(&peer_answer), ufrag_lines(&first_offer_text));
    assert!(peer_answer.contains("a=setup:active"));
    assert_eq!(
        peer.mids(),
        vec![
            ("0".to_owned(), Direction::SendOnly),
            ("1".to_owned(), Direction::SendOnly),
            (mid.clone(), Direction::RecvOnly),
        ]
    );
    assert_eq!(
        peer.remote_ssrcs(&mid),
        vec![(PULLED_SSRC, Some(PULLED_RTX_SSRC))]
    );
    let pt = neg
        .sections()
        .find(|s| s.mid == mid)
        .and_then(|s| s.media_codecs().next())
        .map(|c| c.pt)
        .unwrap();
    assert!(
        peer.negotiated_codecs(&mid)
            .iter()
            .any(|c| c.pt == pt && c.name == "VP8")
    );

    // Media flows both ways on the same connection: the new section
    // receives, the old ones still send.
    for seq in 0..5u16 {
        let p = rtp_packet(pt, seq, 0, PULLED_SSRC, &[7; 30]);
        ep.send_rtp(9, &p).unwrap();
    }
    peer.send_vp8_frame(now, "1", None, true, 2).unwrap();
    let until = now + Duration::from_millis(50);
    let events = run(&mut ep, &mut [&mut peer], &mut now, until);
    let received = peer.take_received();
    assert_eq!(received.len(), 5);
    assert!(
        received
            .iter()
            .all(|r| r.mid.as_deref() == Some(mid.as_str()))
    );
    let rtp_in = events
        .iter()
        .filter(|e| matches!(e, EndpointEvent::Rtp { session: 9, .. }))
        .count();
    assert_eq!(rtp_in, 2);

    // The SFU stops the track: the peer answers that section with port 0.
    neg.stop(&mid).unwrap();
    let sfu_offer = neg.create_offer().unwrap().to_sdp();
    let peer_answer = peer.accept_offer(&sfu_offer).unwrap();
    neg.apply_answer(&peer_answer)
        .expect("the SFU accepts the stop");
    assert!(peer_answer.contains("m=video 0 "));
    assert_eq!(peer.mids()[2], (mid.clone(), Direction::Inactive));
    assert!(peer.remote_ssrcs(&mid).is_empty());
}

#[test]
fn peer_adds_a_section_and_re_offers_and_the_sfu_answers() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = Peer::new(
        now,
        PeerConfig::new(addr("198.51.100.31:50000"), 10).send_audio(),
    );
    let Published {
        offer,
        answer,
        local,
        ..
    } = publish_sdp(&mut ep, &mut peer, 10, now, Setup::default());
    connect(&mut ep, &mut peer, 10, &mut now);

    let mut neg = Negotiation::from_publish(&offer, &answer, local, Capabilities::default());
    let new_mid = peer.add_send_video();
    let re_offer = peer.create_offer();
    let answered = neg
        .answer_offer(&re_offer, |_| SectionPlan::Receive)
        .expect("the SFU answers the re-offer");
    assert_eq!(answered.added, vec![new_mid.clone()]);
    peer.apply_answer(&answered.answer.to_sdp())
        .expect("the peer applies the SFU's answer");
    assert_eq!(
        peer.mids(),
        vec![
            ("0".to_owned(), Direction::SendOnly),
            (new_mid.clone(), Direction::SendOnly),
        ]
    );
    // The new SSRCs are let through, then the new section's media arrives.
    for (_, ssrc, rtx) in peer.sending_ssrcs(&new_mid) {
        ep.allow_remote_ssrc(10, ssrc).unwrap();
        if let Some(rtx) = rtx {
            ep.allow_remote_ssrc(10, rtx).unwrap();
        }
    }
    peer.send_vp8_frame(now, &new_mid, None, true, 3).unwrap();
    peer.send_opus(now, "0").unwrap();
    let until = now + Duration::from_millis(50);
    let events = run(&mut ep, &mut [&mut peer], &mut now, until);
    let rtp_in = events
        .iter()
        .filter(|e| matches!(e, EndpointEvent::Rtp { session: 10, .. }))
        .count();
    assert_eq!(rtp_in, 4);
    assert!(peer.is_connected(), "no new handshake, same keys");
}

#[test]
fn sfu_initiated_session_connects_from_the_sfus_offer() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = Peer::new(now, PeerConfig::new(addr("198.51.100.32:50000"), 11));
    let (credentials, local) = local_transport(&ep, 11);
    let mut neg = Negotiation::new(local, Capabilities::default());
    let mid = neg.add_track(&pulled_video()).unwrap();
    let sfu_offer = neg.create_offer().unwrap().to_sdp();
    let peer_answer = peer.accept_offer(&sfu_offer).unwrap();
    let parsed = neg.apply_answer(&peer_answer).unwrap();
    let remote = neg.remote().unwrap().clone();
    assert_eq!(parsed.sections.len(), 1);
    ep.add_session(
        now,
        11,
        sfu_net::TransportConfig {
            credentials,
            remote_ufrag: Some(remote.ice.ufrag.clone()),
            remote_fingerprint: remote.fingerprint,
            remote_ssrcs: Vec::new(),
            learn_remote_ssrcs: true,
        },
    )
    .unwrap();
    connect(&mut ep, &mut peer, 11, &mut now);
    ep.send_rtp(11, &rtp_packet(96, 1, 0, PULLED_SSRC, &[1; 10]))
        .unwrap();
    let mut events = Vec::new();
    deliver(&mut ep, &mut [&mut peer], now, &mut events);
    let received = peer.take_received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].mid.as_deref(), Some(mid.as_str()));
}
