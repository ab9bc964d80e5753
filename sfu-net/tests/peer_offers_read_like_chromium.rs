//! The stand-in peer's offers, read by the SFU's own parser, have the shape
//! of the real Chromium 156 offers in `sfu-net/tests/fixtures/`: the same
//! mids, directions, payload types, feedback, RTX pairing, header-extension
//! ids, simulcast lines and transport attributes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use sfu_net::sdp::{Description, MediaSection, RidDirection, Setup};
use sfu_testkit::peer::{Peer, PeerConfig};

const PUBLISH: &str = include_str!("fixtures/chromium156_publish_offer.sdp");
const SIMULCAST: &str = include_str!("fixtures/chromium156_simulcast_offer.sdp");
const WHEP: &str = include_str!("fixtures/chromium156_whep_offer.sdp");

fn ours(config: PeerConfig) -> Description {
    let text = Peer::new(Instant::now(), config).create_offer();
    Description::parse(&text).expect("the SFU's parser reads the peer's offer")
}

fn config(seed: u64) -> PeerConfig {
    PeerConfig::new("198.51.100.60:50000".parse().unwrap(), seed)
}

/// Everything the peer writes in `mine` matches what Chromium wrote in
/// `chromium` for the same kind of section.
fn same_shape(mine: &MediaSection, chromium: &MediaSection) {
    let mid = &mine.mid;
    assert_eq!(mine.mid, chromium.mid);
    assert_eq!(mine.kind, chromium.kind, "mid {mid}");
    assert_eq!(mine.direction, chromium.direction, "mid {mid}");
    assert_eq!(mine.proto, chromium.proto, "mid {mid}");
    assert!(mine.rtcp_mux && mine.rtcp_rsize, "mid {mid}");
    for codec in &mine.codecs {
        let theirs = chromium
            .codec(codec.pt)
            .expect("a payload type Chromium uses");
        assert_eq!(codec.name, theirs.name, "mid {mid} pt {}", codec.pt);
        assert_eq!(codec.clock_rate, theirs.clock_rate);
        assert_eq!(codec.channels, theirs.channels);
        assert_eq!(codec.fmtp, theirs.fmtp, "mid {mid} pt {}", codec.pt);
        for fb in &theirs.rtcp_fb {
            assert!(
                codec.rtcp_fb.contains(fb),
                "mid {mid} pt {} lacks {fb:?}",
                codec.pt
            );
        }
    }
    assert_eq!(
        mine.codecs.first().map(|c| c.pt),
        chromium.codecs.first().map(|c| c.pt)
    );
    for ext in &mine.extensions {
        assert!(
            chromium.extensions.contains(ext),
            "mid {mid}: extension {} {:?} is not Chromium's",
            ext.id,
            ext.uri
        );
    }
    assert_eq!(mine.rtx_pairs.len(), chromium.rtx_pairs.len(), "mid {mid}");
    assert_eq!(mine.ssrcs.len(), chromium.ssrcs.len(), "mid {mid}");
    assert_eq!(mine.rids, chromium.rids, "mid {mid}");
    assert_eq!(mine.simulcast, chromium.simulcast, "mid {mid}");
    assert_eq!(mine.msid.is_some(), chromium.msid.is_some(), "mid {mid}");
}

fn same_transport_shape(mine: &Description, chromium: &Description) {
    assert_eq!(mine.bundle, chromium.bundle);
    assert_eq!(mine.extmap_allow_mixed, chromium.extmap_allow_mixed);
    assert_eq!(mine.setup, Some(Setup::ActPass));
    assert_eq!(mine.setup, chromium.setup);
    assert!(mine.ice.is_some() && mine.fingerprint.is_some());
    assert!(!mine.ice_lite);
    for s in &mine.sections {
        assert_eq!(s.candidates.len(), 1, "one UDP host candidate");
    }
}

#[test]
fn publish_offer_has_chromiums_shape() {
    let chromium = Description::parse(PUBLISH).unwrap();
    let mine = ours(config(1).send_audio().send_video());
    same_transport_shape(&mine, &chromium);
    for (m, c) in mine.sections.iter().zip(&chromium.sections) {
        same_shape(m, c);
    }
    assert_eq!(mine.sections[1].rtx_pairs.len(), 1);
}

#[test]
fn simulcast_offer_has_chromiums_shape() {
    let chromium = Description::parse(SIMULCAST).unwrap();
    let mine = ours(config(2).send_audio().send_simulcast(&["q", "h", "f"]));
    same_transport_shape(&mine, &chromium);
    for (m, c) in mine.sections.iter().zip(&chromium.sections) {
        same_shape(m, c);
    }
    let sim = mine.sections[1].simulcast.as_ref().unwrap();
    assert_eq!(sim.direction, RidDirection::Send);
    assert!(mine.sections[1].ssrcs.is_empty());
}

#[test]
fn viewer_offer_has_chromiums_shape() {
    let chromium = Description::parse(WHEP).unwrap();
    let mine = ours(config(3).receive_audio().receive_video());
    same_transport_shape(&mine, &chromium);
    for (m, c) in mine.sections.iter().zip(&chromium.sections) {
        same_shape(m, c);
    }
}

#[test]
fn re_offer_keeps_mids_order_and_transport() {
    let mut peer = Peer::new(Instant::now(), config(4).send_audio());
    let first = Description::parse(&peer.create_offer()).unwrap();
    peer.add_receive_video();
    peer.add_send_video();
    let second = Description::parse(&peer.create_offer()).unwrap();
    assert_eq!(second.bundle, vec!["0", "1", "2"]);
    assert_eq!(second.sections[0], first.sections[0]);
    assert_eq!(second.ice, first.ice);
    assert_eq!(second.fingerprint, first.fingerprint);
    assert_eq!(second.session_id, first.session_id);
    assert_eq!(second.session_version, first.session_version + 1);
}
