//! Descriptions captured from headless Chromium 156 (Debian `chromium`,
//! fake camera and microphone): its offers for publishing, simulcast
//! publishing (`sendEncodings` q/h/f) and WHEP viewing, and its answers to
//! three SFU offers on the publishing connection. Chromium accepted every
//! answer and offer this module produced for them (the capture session
//! applied them with setRemoteDescription); these tests keep our side of
//! that exchange from regressing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sdp_support;

use sdp_support::*;
use sfu_net::sdp::*;

const PUBLISH_156: &str = include_str!("fixtures/chromium156_publish_offer.sdp");
const SIMULCAST_156: &str = include_str!("fixtures/chromium156_simulcast_offer.sdp");
const WHEP_156: &str = include_str!("fixtures/chromium156_whep_offer.sdp");
const RENEG_ANSWERS_156: [&str; 3] = [
    include_str!("fixtures/chromium156_renegotiation_answer_1.sdp"),
    include_str!("fixtures/chromium156_renegotiation_answer_2.sdp"),
    include_str!("fixtures/chromium156_renegotiation_answer_3.sdp"),
];

#[test]
fn real_publish_offer_is_answered_with_opus_and_vp8_plus_rtx() {
    let offer = PublishOffer::parse(PUBLISH_156).unwrap();
    let d = offer.description();
    assert_eq!(d.bundle, ["0", "1"]);
    let video = d.section("1").unwrap();
    assert_eq!(video.rtx_pairs.len(), 1);
    assert!(
        video
            .ssrcs
            .iter()
            .all(|s| s.cname.is_some() && s.msid.is_some())
    );
    assert!(video.media_codecs().any(|c| c.name == CodecName::Av1));
    let answer = offer.answer(&local(), &Capabilities::default()).unwrap();
    let names: Vec<(&str, u8)> = answer
        .sections
        .iter()
        .flat_map(|s| s.codecs.iter().map(|c| (c.name.as_str(), c.pt)))
        .collect();
    assert_eq!(names, [("opus", 111), ("VP8", 96), ("rtx", 97)]);
    assert_eq!(Description::parse(&answer.to_sdp()).unwrap(), answer);
}

#[test]
fn real_simulcast_offer_is_answered_with_three_recv_rids() {
    let offer = PublishOffer::parse(SIMULCAST_156).unwrap();
    let answer = offer.answer(&local(), &Capabilities::default()).unwrap();
    let video = answer.section("1").unwrap();
    let sim = video.simulcast.as_ref().unwrap();
    assert_eq!(sim.direction, RidDirection::Recv);
    let rids: Vec<&str> = sim.layers.iter().map(|l| l.rid.as_str()).collect();
    assert_eq!(rids, ["q", "h", "f"]);
    assert!(video.rids.iter().all(|r| r.direction == RidDirection::Recv));
    assert_eq!(video.extension_id(&ExtensionUri::Rid), Some(10));
    assert_eq!(video.extension_id(&ExtensionUri::RepairedRid), Some(11));
}

#[test]
fn real_whep_offer_is_answered_sendonly() {
    let offer = ViewerOffer::parse(WHEP_156).unwrap();
    assert!(
        offer
            .description()
            .sections
            .iter()
            .all(|s| s.direction == Direction::RecvOnly)
    );
    let senders = [SectionSender {
        mid: "1".into(),
        track: vp8_track(222, 223, "v"),
    }];
    let answer = offer
        .answer(&local(), &Capabilities::default(), &senders)
        .unwrap();
    let video = answer.section("1").unwrap();
    assert_eq!(video.direction, Direction::SendOnly);
    assert_eq!(
        video.rtx_pairs,
        [RtxPair {
            primary: 222,
            rtx: 223
        }]
    );
}

fn vp8_track(ssrc: u32, rtx: u32, id: &str) -> OutgoingTrack {
    OutgoingTrack {
        kind: MediaKind::Video,
        codec: PayloadFormat {
            pt: 120,
            name: CodecName::Vp8,
            clock_rate: 90_000,
            channels: None,
            fmtp: None,
            rtcp_fb: vec![],
        },
        ssrc,
        rtx_ssrc: Some(rtx),
        msid: Msid {
            stream: "sfu-stream".into(),
            track: id.into(),
        },
        cname: "sfucname".into(),
    }
}

fn opus_track(ssrc: u32, id: &str) -> OutgoingTrack {
    OutgoingTrack {
        kind: MediaKind::Audio,
        codec: PayloadFormat {
            pt: 109,
            name: CodecName::Opus,
            clock_rate: 48_000,
            channels: Some(2),
            fmtp: Some("minptime=10;useinbandfec=1".into()),
            rtcp_fb: vec![],
        },
        ssrc,
        rtx_ssrc: None,
        msid: Msid {
            stream: "sfu-stream".into(),
            track: id.into(),
        },
        cname: "sfucname".into(),
    }
}

#[test]
fn real_answers_to_three_sfu_offers_are_accepted() {
    let offer = PublishOffer::parse(PUBLISH_156).unwrap();
    let caps = Capabilities::default();
    let answer = offer.answer(&local(), &caps).unwrap();
    let mut neg = Negotiation::from_publish(&offer, &answer, local(), caps);
    let live =
        |neg: &Negotiation| -> Vec<String> { neg.sections().map(|s| s.mid.clone()).collect() };

    // Round 1: two pulled tracks appended.
    neg.add_track(&vp8_track(5000, 5001, "pulled-v")).unwrap();
    neg.add_track(&opus_track(6000, "pulled-a")).unwrap();
    neg.create_offer().unwrap();
    let a1 = neg.apply_answer(RENEG_ANSWERS_156[0]).unwrap();
    assert_eq!(a1.setup, Some(Setup::Active));
    assert_eq!(live(&neg), ["0", "1", "2", "3"]);
    let pulled = neg.sections().find(|s| s.mid == "2").unwrap();
    assert_eq!(pulled.codecs.len(), 2, "Chromium kept VP8 and its RTX");

    // Round 2: the pulled video ends.
    neg.stop("2").unwrap();
    neg.create_offer().unwrap();
    neg.apply_answer(RENEG_ANSWERS_156[1]).unwrap();
    assert_eq!(live(&neg), ["0", "1", "3"]);

    // Round 3: a new track recycles the stopped section under a new mid.
    assert_eq!(
        neg.add_track(&vp8_track(7000, 7001, "pulled-v2")).unwrap(),
        "4"
    );
    neg.create_offer().unwrap();
    neg.apply_answer(RENEG_ANSWERS_156[2]).unwrap();
    assert_eq!(live(&neg), ["0", "1", "4", "3"]);
}

#[test]
fn a_real_answer_is_refused_against_the_wrong_offer() {
    let offer = PublishOffer::parse(PUBLISH_156).unwrap();
    let caps = Capabilities::default();
    let answer = offer.answer(&local(), &caps).unwrap();
    let mut neg = Negotiation::from_publish(&offer, &answer, local(), caps);
    neg.add_track(&vp8_track(5000, 5001, "pulled-v")).unwrap();
    neg.create_offer().unwrap();
    // Answer 1 has four sections; this offer has three.
    assert!(matches!(
        neg.apply_answer(RENEG_ANSWERS_156[0]),
        Err(SdpError::AnswerMismatch { .. })
    ));
}
