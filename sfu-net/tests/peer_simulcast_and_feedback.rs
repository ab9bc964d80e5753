//! Rid-based simulcast from the stand-in peer, and the peer as a sender
//! under feedback: the SFU mirrors its `a=simulcast:send q;h;f`, learns the
//! layers' SSRCs from authenticated packets, and its NACKs are answered
//! with RTX (RTX SSRC and PT, OSN, repaired-rid) while PLI/FIR ask for a
//! key frame.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use sfu_net::sdp::{Capabilities, ExtensionUri, PublishOffer};
use sfu_net::{EndpointConfig, EndpointEvent, TransportConfig};
use sfu_testkit::peer::{Peer, PeerConfig};

fn rtp_packets(events: &[Event]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Rtp { packet, .. } => Some(packet.to_vec()),
            _ => None,
        })
        .collect()
}

fn nack(sender: u32, media: u32, pid: u16, blp: u16) -> Vec<u8> {
    let mut p = vec![0x81, 205, 0, 3];
    p.extend_from_slice(&sender.to_be_bytes());
    p.extend_from_slice(&media.to_be_bytes());
    p.extend_from_slice(&pid.to_be_bytes());
    p.extend_from_slice(&blp.to_be_bytes());
    p
}

fn pli(sender: u32, media: u32) -> Vec<u8> {
    let mut p = vec![0x81, 206, 0, 2];
    p.extend_from_slice(&sender.to_be_bytes());
    p.extend_from_slice(&media.to_be_bytes());
    p
}

#[test]
fn simulcast_layers_arrive_by_rid_and_nacks_are_answered_with_rtx() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = Peer::new(
        now,
        PeerConfig::new(addr("198.51.100.50:50000"), 21)
            .send_audio()
            .send_simulcast(&["q", "h", "f"]),
    );
    let text = peer.create_offer();
    assert!(text.contains("a=simulcast:send q;h;f\r\n"));
    assert!(
        !text.contains("a=ssrc-group"),
        "Chromium writes no SSRCs with rids"
    );
    let (credentials, local) = local_transport(&ep, 21);
    let offer = PublishOffer::parse(&text).unwrap();
    let answer = offer.answer(&local, &Capabilities::default()).unwrap();
    let tracks = offer.tracks(&answer);
    assert_eq!(tracks[1].rids, vec!["q", "h", "f"]);
    assert_eq!(tracks[1].ssrc, None);
    let rid_id = answer.sections[1].extension_id(&ExtensionUri::Rid).unwrap();
    let repaired_id = answer.sections[1]
        .extension_id(&ExtensionUri::RepairedRid)
        .unwrap();
    ep.add_session(
        now,
        21,
        TransportConfig {
            credentials,
            remote_ufrag: Some(offer.remote().ice.ufrag.clone()),
            remote_fingerprint: offer.remote().fingerprint,
            // Only the audio SSRC is signalled; the layers are learned.
            remote_ssrcs: peer.sending_ssrcs("0").iter().map(|s| s.1).collect(),
            learn_remote_ssrcs: true,
        },
    )
    .unwrap();
    peer.apply_answer(&answer.to_sdp()).unwrap();
    connect(&mut ep, &mut peer, 21, &mut now);

    for rid in ["q", "h", "f"] {
        peer.send_vp8_frame(now, "1", Some(rid), true, 2).unwrap();
    }
    assert!(
        peer.send_vp8_frame(now, "1", None, true, 1).is_err(),
        "a rid is needed"
    );
    assert!(peer.send_vp8_frame(now, "1", Some("x"), true, 1).is_err());
    let until = now + Duration::from_millis(30);
    let events = run(&mut ep, &mut [&mut peer], &mut now, until);
    let packets = rtp_packets(&events);
    assert_eq!(packets.len(), 6);
    let layers = peer.sending_ssrcs("1");
    let mut by_rid: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    for p in &packets {
        let (pt, seq, ssrc, _) = rtp_fields(p);
        let rid = String::from_utf8(rtp_extension(p, rid_id).expect("rid on every layer")).unwrap();
        let layer = layers
            .iter()
            .find(|l| l.0.as_deref() == Some(rid.as_str()))
            .unwrap();
        assert_eq!((pt, ssrc), (96, layer.1));
        by_rid.entry(rid).or_default().push(seq);
    }
    assert_eq!(by_rid.len(), 3);

    // The SFU NACKs the first packet of layer h: the peer repairs it with RTX.
    let (_, h_ssrc, h_rtx) = layers[1].clone();
    let h_rtx = h_rtx.expect("an RTX SSRC per layer");
    let lost = by_rid["h"][0];
    ep.send_rtcp(21, &nack(0xabc, h_ssrc, lost, 0)).unwrap();
    let until = now + Duration::from_millis(10);
    let events = run(&mut ep, &mut [&mut peer], &mut now, until);
    let packets = rtp_packets(&events);
    assert_eq!(packets.len(), 1, "one repair");
    let (pt, _, ssrc, payload) = rtp_fields(&packets[0]);
    assert_eq!((pt, ssrc), (97, h_rtx));
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), lost);
    assert_eq!(
        rtp_extension(&packets[0], repaired_id).as_deref(),
        Some(&b"h"[..])
    );
    assert_eq!(rtp_extension(&packets[0], rid_id), None);
    assert_eq!(peer.stats().nacks_received, 1);
    assert_eq!(peer.stats().rtx_sent, 1);

    // A PLI for layer f asks for a key frame; sending one clears it.
    ep.send_rtcp(21, &pli(0xabc, layers[2].1)).unwrap();
    let mut events = Vec::new();
    deliver(&mut ep, &mut [&mut peer], now, &mut events);
    assert!(peer.keyframe_requested_on("1") && peer.keyframe_requested());
    assert!(!peer.keyframe_requested_on("0"));
    assert_eq!(peer.stats().plis_received, 1);
    peer.send_vp8_frame(now, "1", Some("f"), true, 1).unwrap();
    assert!(!peer.keyframe_requested());
}

#[test]
fn audio_without_rtx_is_retransmitted_plainly() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = Peer::new(
        now,
        PeerConfig::new(addr("198.51.100.51:50000"), 22).send_audio(),
    );
    publish(&mut ep, &mut peer, 22, now);
    connect(&mut ep, &mut peer, 22, &mut now);
    let mut first = None;
    for _ in 0..3 {
        peer.send_opus(now, "0").unwrap();
        let until = now + Duration::from_millis(20);
        let packets = rtp_packets(&run(&mut ep, &mut [&mut peer], &mut now, until));
        first = first.or_else(|| packets.first().map(|p| rtp_fields(p).1));
    }
    let ssrc = peer.sending_ssrcs("0")[0].1;
    ep.send_rtcp(22, &nack(0xabc, ssrc, first.unwrap(), 0b1))
        .unwrap();
    let mut events = Vec::new();
    deliver(&mut ep, &mut [&mut peer], now, &mut events);
    assert_eq!(peer.stats().retransmissions_sent, 2);
    assert_eq!(peer.stats().rtx_sent, 0);
    // The same sequence numbers under SRTP: the endpoint's replay window drops them.
    assert!(rtp_packets(&events).is_empty());
}
