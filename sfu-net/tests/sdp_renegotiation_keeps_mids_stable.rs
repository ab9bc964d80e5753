//! SFU-generated offers: pulled tracks are appended as new sendonly
//! m-sections, ended ones go to port 0 outside BUNDLE, live mids and order
//! never change, and the client's answer is checked against the offer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sdp_support;

use sdp_support::*;
use sfu_net::sdp::*;

fn track(
    kind: MediaKind,
    codec: PayloadFormat,
    ssrc: u32,
    rtx: Option<u32>,
    id: &str,
) -> OutgoingTrack {
    OutgoingTrack {
        kind,
        codec,
        ssrc,
        rtx_ssrc: rtx,
        msid: Msid {
            stream: "remote-stream".into(),
            track: id.into(),
        },
        cname: "remote-cname".into(),
    }
}

fn codec(pt: u8, name: CodecName, fmtp: Option<&str>) -> PayloadFormat {
    let audio = name == CodecName::Opus;
    PayloadFormat {
        pt,
        name,
        clock_rate: if audio { 48_000 } else { 90_000 },
        channels: audio.then_some(2),
        fmtp: fmtp.map(str::to_owned),
        rtcp_fb: vec![],
    }
}

fn vp8(pt: u8) -> OutgoingTrack {
    track(
        MediaKind::Video,
        codec(pt, CodecName::Vp8, None),
        5000 + u32::from(pt),
        Some(6000),
        "v",
    )
}

/// What a browser answers to our offer: every section accepted as offered,
/// directions flipped, DTLS client.
fn browser_answer(offer: &Description) -> Description {
    let sections = offer
        .sections
        .iter()
        .map(|s| {
            let mut a = s.clone();
            a.direction = match s.direction {
                Direction::SendOnly => Direction::RecvOnly,
                Direction::RecvOnly => Direction::SendOnly,
                d => d,
            };
            a.ssrcs.clear();
            a.rtx_pairs.clear();
            a.msid = None;
            a.candidates.clear();
            a.end_of_candidates = false;
            a
        })
        .collect();
    Description {
        session_id: 99,
        session_version: offer.session_version,
        ice_lite: false,
        extmap_allow_mixed: true,
        bundle: offer.bundle.clone(),
        ice: Some(IceParameters {
            ufrag: "yTz1".into(),
            pwd: "4gV9gXqpbCw0JqHs8bEbqPzK".into(),
        }),
        fingerprint: Some(client_fingerprint()),
        setup: Some(Setup::Active),
        sections,
    }
}

fn after_publish() -> Negotiation {
    let offer = PublishOffer::parse(PUBLISH).unwrap();
    let caps = Capabilities::default();
    let answer = offer.answer(&local(), &caps).unwrap();
    Negotiation::from_publish(&offer, &answer, local(), caps)
}

fn mids(d: &Description) -> Vec<&str> {
    d.sections.iter().map(|s| s.mid.as_str()).collect()
}

#[test]
fn pulled_track_is_appended_as_sendonly_section_with_ssrcs() {
    let mut neg = after_publish();
    let mid = neg.add_track(&vp8(100)).unwrap();
    assert_eq!(mid, "2");
    let offer = neg.create_offer().unwrap();
    assert_eq!(mids(&offer), ["0", "1", "2"]);
    assert_eq!(offer.bundle, ["0", "1", "2"]);
    assert_eq!(offer.setup, Some(Setup::ActPass));
    assert!(offer.ice_lite);
    assert_eq!(offer.session_version, 2, "answer was version 1");
    let s = offer.section("2").unwrap();
    assert_eq!(s.direction, Direction::SendOnly);
    assert_eq!(
        s.rtx_pairs,
        [RtxPair {
            primary: 5100,
            rtx: 6000
        }]
    );
    assert_eq!(s.msid.as_ref().unwrap().track, "v");
    // The published sections are re-offered as agreed.
    assert_eq!(offer.section("1").unwrap().direction, Direction::RecvOnly);
    let text = offer.to_sdp();
    assert_eq!(Description::parse(&text).unwrap(), offer);
    assert!(text.contains("a=setup:actpass\r\n"));
}

#[test]
fn bundle_keeps_one_meaning_per_payload_type_and_extension_id() {
    let mut neg = after_publish();
    // The publisher's VP8 is 96: a pulled VP8 track reuses it, whatever
    // its own publisher numbered it.
    neg.add_track(&vp8(120)).unwrap();
    // A pulled H.264 track numbered 96 by its publisher must move.
    let h264 = track(
        MediaKind::Video,
        codec(
            96,
            CodecName::H264,
            Some("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
        ),
        7000,
        Some(7001),
        "h",
    );
    neg.add_track(&h264).unwrap();
    let offer = neg.create_offer().unwrap();
    let vp8_section = offer.section("2").unwrap();
    assert_eq!(vp8_section.codecs[0].pt, 96);
    assert_eq!(vp8_section.codecs[1].pt, 97, "the bundle's RTX for 96");
    let h264_section = offer.section("3").unwrap();
    let h264_pt = h264_section.codecs[0].pt;
    let rtx_pt = h264_section.codecs[1].pt;
    let all: Vec<&PayloadFormat> = offer.sections.iter().flat_map(|s| &s.codecs).collect();
    for pt in [h264_pt, rtx_pt] {
        assert!(
            all.iter()
                .filter(|c| c.pt == pt)
                .all(|c| c.same_format(all.iter().find(|x| x.pt == pt).unwrap())),
            "pt {pt} means two things"
        );
        assert!(pt != 96 && pt != 97);
    }
    assert_eq!(h264_section.codecs[1].apt(), Some(h264_pt));
    // Extension ids follow the publisher's (mid 4, abs-send-time 2, transport-cc 3).
    assert_eq!(h264_section.extension_id(&ExtensionUri::Mid), Some(4));
    assert_eq!(
        h264_section.extension_id(&ExtensionUri::AbsSendTime),
        Some(2)
    );
    assert_eq!(
        h264_section.extension_id(&ExtensionUri::TransportCc),
        Some(3)
    );
    assert_eq!(h264_section.extension_id(&ExtensionUri::AudioLevel), None);
}

#[test]
fn ended_track_goes_to_port_zero_and_its_slot_is_recycled_with_a_new_mid() {
    let mut neg = after_publish();
    neg.add_track(&vp8(96)).unwrap();
    let offer = neg.create_offer().unwrap();
    neg.apply_answer(&browser_answer(&offer).to_sdp()).unwrap();

    neg.stop("2").unwrap();
    let offer = neg.create_offer().unwrap();
    assert_eq!(mids(&offer), ["0", "1", "2"]);
    assert_eq!(offer.bundle, ["0", "1"]);
    assert!(offer.section("2").unwrap().is_rejected());
    assert!(offer.to_sdp().contains("m=video 0 UDP/TLS/RTP/SAVPF"));
    let answer = browser_answer(&offer);
    assert!(answer.section("2").unwrap().is_rejected());
    neg.apply_answer(&answer.to_sdp()).unwrap();
    assert_eq!(neg.sections().count(), 2);

    let mid = neg.add_track(&vp8(96)).unwrap();
    assert_eq!(mid, "3", "a recycled section never reuses a mid");
    let offer = neg.create_offer().unwrap();
    assert_eq!(mids(&offer), ["0", "1", "3"]);
    assert_eq!(offer.bundle, ["0", "1", "3"]);
}

#[test]
fn client_rejecting_a_section_stops_it() {
    let mut neg = after_publish();
    neg.add_track(&vp8(96)).unwrap();
    let offer = neg.create_offer().unwrap();
    let mut answer = browser_answer(&offer);
    answer.sections[2].port = 0;
    answer.bundle.retain(|m| m != "2");
    neg.apply_answer(&answer.to_sdp()).unwrap();
    let live: Vec<&str> = neg.sections().map(|s| s.mid.as_str()).collect();
    assert_eq!(live, ["0", "1"]);
}

#[test]
fn answer_narrows_codecs_and_extensions() {
    let mut neg = after_publish();
    neg.add_track(&vp8(96)).unwrap();
    let offer = neg.create_offer().unwrap();
    let mut answer = browser_answer(&offer);
    answer.sections[2].codecs.truncate(1); // no RTX
    answer.sections[2]
        .extensions
        .retain(|e| e.uri == ExtensionUri::Mid);
    neg.apply_answer(&answer.to_sdp()).unwrap();
    let s = neg.sections().find(|s| s.mid == "2").unwrap();
    assert_eq!(s.codecs.len(), 1);
    assert!(s.rtx_pairs.is_empty());
    assert_eq!(s.ssrcs.len(), 1, "the RTX SSRC goes with RTX");
    assert_eq!(s.extensions.len(), 1);
}

#[test]
fn pull_only_session_offers_actpass_and_accepts_active() {
    let mut neg = Negotiation::new(local(), Capabilities::default());
    assert_eq!(neg.create_offer(), Err(SdpError::NothingToNegotiate));
    let opus = track(
        MediaKind::Audio,
        codec(111, CodecName::Opus, Some("minptime=10;useinbandfec=1")),
        1,
        None,
        "a",
    );
    assert_eq!(neg.add_track(&opus).unwrap(), "0");
    assert_eq!(neg.add_track(&vp8(96)).unwrap(), "1");
    let offer = neg.create_offer().unwrap();
    let audio = offer.section("0").unwrap();
    assert_eq!(audio.extension_id(&ExtensionUri::Mid), Some(1));
    assert_eq!(audio.extension_id(&ExtensionUri::AudioLevel), Some(4));
    assert_eq!(audio.codecs[0].rtcp_fb, [RtcpFeedback::TransportCc]);
    assert!(neg.remote().is_none());
    let answer = neg.apply_answer(&browser_answer(&offer).to_sdp()).unwrap();
    assert_eq!(answer.setup, Some(Setup::Active));
    assert_eq!(neg.remote().unwrap().fingerprint, client_fingerprint());
    assert!(!neg.offer_in_flight());
}

#[test]
fn media_changes_wait_for_the_answer_and_rollback_restores() {
    let mut neg = after_publish();
    neg.add_track(&vp8(96)).unwrap();
    neg.create_offer().unwrap();
    assert!(matches!(
        neg.add_track(&vp8(96)),
        Err(SdpError::NegotiationState { .. })
    ));
    assert!(matches!(
        neg.stop("0"),
        Err(SdpError::NegotiationState { .. })
    ));
    assert!(matches!(
        neg.create_offer(),
        Err(SdpError::NegotiationState { .. })
    ));
    neg.rollback();
    assert!(!neg.offer_in_flight());
    // The queued track is offered again, in a newer version.
    let again = neg.create_offer().unwrap();
    assert_eq!(mids(&again), ["0", "1", "2"]);
    assert_eq!(again.session_version, 3);
    neg.rollback();
    assert!(matches!(
        neg.apply_answer(PUBLISH),
        Err(SdpError::NegotiationState { .. })
    ));
}

fn offer_in_flight() -> (Negotiation, Description) {
    let mut neg = after_publish();
    neg.add_track(&vp8(96)).unwrap();
    let offer = neg.create_offer().unwrap();
    (neg, offer)
}

fn assert_mismatch(neg: &mut Negotiation, answer: &Description) {
    let err = neg.apply_answer(&answer.to_sdp()).unwrap_err();
    assert!(matches!(err, SdpError::AnswerMismatch { .. }), "{err}");
    assert!(
        neg.offer_in_flight(),
        "a refused answer leaves the offer in flight"
    );
}

#[test]
fn answer_with_other_mids_or_counts_is_refused() {
    let (mut neg, offer) = offer_in_flight();
    let mut answer = browser_answer(&offer);
    answer.sections.swap(0, 1);
    assert_mismatch(&mut neg, &answer);
    let mut answer = browser_answer(&offer);
    answer.sections.pop();
    answer.bundle.pop();
    assert_mismatch(&mut neg, &answer);
}

#[test]
fn answer_with_unoffered_codec_or_extension_or_direction_is_refused() {
    let (mut neg, offer) = offer_in_flight();
    let mut answer = browser_answer(&offer);
    answer.sections[2].codecs[0].pt = 45;
    assert_mismatch(&mut neg, &answer);
    let mut answer = browser_answer(&offer);
    answer.sections[2].extensions[0].id = 9;
    assert_mismatch(&mut neg, &answer);
    let mut answer = browser_answer(&offer);
    answer.sections[2].direction = Direction::SendOnly;
    assert_mismatch(&mut neg, &answer);
}

#[test]
fn answer_that_changes_dtls_or_ice_or_role_is_refused() {
    let (mut neg, offer) = offer_in_flight();
    let mut answer = browser_answer(&offer);
    answer.fingerprint = Some(local().fingerprint);
    assert_mismatch(&mut neg, &answer);
    let mut answer = browser_answer(&offer);
    answer.ice.as_mut().unwrap().ufrag = "newU".into();
    assert_mismatch(&mut neg, &answer);
    let mut answer = browser_answer(&offer);
    answer.setup = Some(Setup::Passive);
    assert_eq!(
        neg.apply_answer(&answer.to_sdp()),
        Err(SdpError::UnsupportedSetup { setup: "passive" })
    );
}

#[test]
fn sections_are_bounded() {
    let mut neg = Negotiation::new(local(), Capabilities::default());
    for _ in 0..limits::MAX_MEDIA_SECTIONS {
        neg.add_track(&vp8(96)).unwrap();
    }
    assert_eq!(
        neg.add_track(&vp8(96)),
        Err(SdpError::TooMany {
            what: "m-sections",
            limit: limits::MAX_MEDIA_SECTIONS
        })
    );
    let offer = neg.create_offer().unwrap();
    assert!(offer.to_sdp().len() < limits::MAX_SDP_BYTES);
    assert_eq!(Description::parse(&offer.to_sdp()).unwrap(), offer);
}

#[test]
fn viewer_session_gets_more_tracks_with_its_first_ones_unchanged() {
    let offer = ViewerOffer::parse(WHEP).unwrap();
    let caps = Capabilities::default();
    let first = vec![SectionSender {
        mid: "1".into(),
        track: vp8(96),
    }];
    let answer = offer.answer(&local(), &caps, &first).unwrap();
    let mut neg = Negotiation::from_viewer(&offer, &answer, local(), caps);
    // The audio section we rejected is recycled, under a new mid.
    assert_eq!(neg.add_track(&vp8(96)).unwrap(), "2");
    let reoffer = neg.create_offer().unwrap();
    assert_eq!(mids(&reoffer), ["2", "1"]);
    assert_eq!(
        reoffer.section("1"),
        answer.section("1"),
        "re-offered as agreed"
    );
    assert_eq!(reoffer.bundle, ["1", "2"], "the tagged mid stays first");
    neg.apply_answer(&browser_answer(&reoffer).to_sdp())
        .unwrap();
    // No stopped section left: the next track is appended.
    assert_eq!(neg.add_track(&vp8(96)).unwrap(), "3");
    let next = neg.create_offer().unwrap();
    assert_eq!(mids(&next), ["2", "1", "3"]);
}
