//! Chromium's offers (publish, simulcast from `sendEncodings`, WHEP
//! recvonly) parse into the typed description with nothing lost that the
//! SFU needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sdp_support;

use sdp_support::*;
use sfu_net::sdp::*;

#[test]
fn publish_offer_has_transport_bundle_and_rtcp_mux() {
    let offer = PublishOffer::parse(PUBLISH).unwrap();
    let d = offer.description();
    assert_eq!(d.session_id, 4_215_775_240_449_105_457);
    assert_eq!(d.bundle, ["0", "1"]);
    assert!(d.extmap_allow_mixed);
    assert!(!d.ice_lite);
    let remote = offer.remote();
    assert_eq!(remote.ice.ufrag, "yTz1");
    assert_eq!(remote.ice.pwd, "4gV9gXqpbCw0JqHs8bEbqPzK");
    assert_eq!(remote.fingerprint, client_fingerprint());
    assert_eq!(remote.setup, Setup::ActPass);
    assert!(d.sections.iter().all(|s| s.rtcp_mux && s.rtcp_rsize));
}

#[test]
fn publish_offer_audio_section_has_opus_ssrc_and_extensions() {
    let offer = PublishOffer::parse(PUBLISH).unwrap();
    let audio = offer.description().section("0").unwrap();
    assert_eq!(audio.kind, MediaKind::Audio);
    assert_eq!(audio.direction, Direction::SendOnly);
    assert_eq!(audio.port, 50123);
    assert_eq!(audio.proto, "UDP/TLS/RTP/SAVPF");
    let pts: Vec<u8> = audio.codecs.iter().map(|c| c.pt).collect();
    assert_eq!(pts, [111, 63, 9, 0, 8, 13, 110, 126]);
    let opus = audio.codec(111).unwrap();
    assert_eq!(opus.name, CodecName::Opus);
    assert_eq!(opus.clock_rate, 48_000);
    assert_eq!(opus.channels, Some(2));
    assert_eq!(opus.fmtp.as_deref(), Some("minptime=10;useinbandfec=1"));
    assert_eq!(opus.fmtp_param("useinbandfec"), Some("1"));
    assert_eq!(opus.rtcp_fb, [RtcpFeedback::TransportCc]);
    assert_eq!(
        audio.codec(63).unwrap().name,
        CodecName::Other("red".into())
    );
    assert_eq!(audio.extension_id(&ExtensionUri::AudioLevel), Some(1));
    assert_eq!(audio.extension_id(&ExtensionUri::AbsSendTime), Some(2));
    assert_eq!(audio.extension_id(&ExtensionUri::TransportCc), Some(3));
    assert_eq!(audio.extension_id(&ExtensionUri::Mid), Some(4));
    assert_eq!(
        audio.ssrcs,
        [SsrcInfo {
            ssrc: 1_001_356_942,
            cname: Some("k3pLqR8sTuVw2XyZ".into()),
            msid: Some(Msid {
                stream: "3f2d5a1e-6c7b-4e8f-9a0b-1c2d3e4f5a6b".into(),
                track: "c1a2b3d4-e5f6-4708-9a1b-2c3d4e5f6071".into(),
            }),
        }]
    );
    assert_eq!(
        audio.msid.as_ref().unwrap().track,
        "c1a2b3d4-e5f6-4708-9a1b-2c3d4e5f6071"
    );
    // The UDP candidate is kept, the TCP one skipped.
    assert_eq!(audio.candidates.len(), 1);
    assert_eq!(
        audio.candidates[0].address,
        "127.0.0.1:50123".parse().unwrap()
    );
    assert_eq!(audio.candidates[0].kind, CandidateKind::Host);
}

#[test]
fn publish_offer_video_section_has_every_codec_family_and_rtx_pairs() {
    let offer = PublishOffer::parse(PUBLISH).unwrap();
    let video = offer.description().section("1").unwrap();
    assert_eq!(video.kind, MediaKind::Video);
    assert_eq!(video.codecs.len(), 27);
    let vp8 = video.codec(96).unwrap();
    assert_eq!(vp8.name, CodecName::Vp8);
    assert_eq!(
        vp8.rtcp_fb,
        [
            RtcpFeedback::GoogRemb,
            RtcpFeedback::TransportCc,
            RtcpFeedback::CcmFir,
            RtcpFeedback::Nack,
            RtcpFeedback::NackPli
        ]
    );
    assert_eq!(video.rtx_for(96).unwrap().pt, 97);
    let h264 = video.codec(106).unwrap();
    assert_eq!(h264.name, CodecName::H264);
    assert_eq!(h264.h264_packetization_mode(), 1);
    assert_eq!(h264.h264_profile(), Some((0x42, 0xe0)));
    assert_eq!(video.codec(104).unwrap().h264_packetization_mode(), 0);
    assert_eq!(video.codec(98).unwrap().vp9_profile(), 0);
    assert_eq!(video.codec(100).unwrap().vp9_profile(), 2);
    let av1 = video.codec(45).unwrap();
    assert_eq!(av1.name, CodecName::Av1);
    assert_eq!(av1.av1_profile(), 0);
    assert_eq!(video.rtx_for(45).unwrap().pt, 46);
    assert_eq!(
        video.codec(49).unwrap().name,
        CodecName::Other("H265".into())
    );
    assert_eq!(video.extension_id(&ExtensionUri::Rid), Some(10));
    assert_eq!(video.extension_id(&ExtensionUri::RepairedRid), Some(11));
    assert_eq!(
        video.extension_id(&ExtensionUri::Other("urn:3gpp:video-orientation".into())),
        Some(13)
    );
    assert_eq!(
        video.rtx_pairs,
        [RtxPair {
            primary: 2_739_014_581,
            rtx: 3_522_149_230
        }]
    );
    assert_eq!(video.ssrcs.len(), 2);
    assert!(video.rids.is_empty() && video.simulcast.is_none());
}

#[test]
fn simulcast_offer_has_three_send_rids_and_no_ssrcs() {
    let offer = PublishOffer::parse(SIMULCAST).unwrap();
    let video = offer.description().section("1").unwrap();
    let rids: Vec<(&str, RidDirection)> = video
        .rids
        .iter()
        .map(|r| (r.id.as_str(), r.direction))
        .collect();
    assert_eq!(
        rids,
        [
            ("q", RidDirection::Send),
            ("h", RidDirection::Send),
            ("f", RidDirection::Send)
        ]
    );
    let sim = video.simulcast.as_ref().unwrap();
    assert_eq!(sim.direction, RidDirection::Send);
    let layers: Vec<&str> = sim.layers.iter().map(|l| l.rid.as_str()).collect();
    assert_eq!(layers, ["q", "h", "f"]);
    assert!(sim.layers.iter().all(|l| !l.paused));
    assert!(video.ssrcs.is_empty());
    assert_eq!(video.port, 9);
}

#[test]
fn whep_offer_is_recvonly_without_ssrcs() {
    let offer = ViewerOffer::parse(WHEP).unwrap();
    let d = offer.description();
    assert_eq!(d.sections.len(), 2);
    for s in &d.sections {
        assert_eq!(s.direction, Direction::RecvOnly);
        assert!(s.ssrcs.is_empty() && s.msid.is_none());
    }
}

#[test]
fn lf_only_line_ends_are_accepted() {
    let lf = PUBLISH.replace("\r\n", "\n");
    let a = Description::parse(&lf).unwrap();
    let b = Description::parse(PUBLISH).unwrap();
    assert_eq!(a, b);
}

#[test]
fn session_level_transport_is_used_when_sections_have_none() {
    // Firefox writes the fingerprint at session level.
    let moved = drop_lines(PUBLISH, "a=fingerprint:");
    let moved = replace_line(
        &moved,
        "a=extmap-allow-mixed",
        &format!("a=extmap-allow-mixed\r\na=fingerprint:sha-256 {CLIENT_FINGERPRINT}"),
    );
    let offer = PublishOffer::parse(&moved).unwrap();
    assert_eq!(offer.remote().fingerprint, client_fingerprint());
}

#[test]
fn wildcard_rtcp_fb_applies_to_every_codec() {
    let sdp = replace_line(PUBLISH, "a=rtcp-fb:111 transport-cc", "a=rtcp-fb:* nack");
    let d = Description::parse(&sdp).unwrap();
    let audio = d.section("0").unwrap();
    assert!(
        audio
            .codecs
            .iter()
            .all(|c| c.rtcp_fb.contains(&RtcpFeedback::Nack))
    );
}

#[test]
fn printing_a_parsed_offer_and_parsing_it_again_is_lossless() {
    for fixture in [PUBLISH, SIMULCAST, WHEP] {
        let d = Description::parse(fixture).unwrap();
        let again = Description::parse(&d.to_sdp()).unwrap();
        assert_eq!(again, d);
    }
}

#[test]
fn transport_survives_printing_when_no_section_is_live() {
    // Found by the `sdp` fuzz target: session-level transport with no
    // live section was dropped by the printer.
    let session_only = format!(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         a=fingerprint:sha-256 {CLIENT_FINGERPRINT}\r\na=setup:actpass\r\n\
         a=ice-ufrag:yTz1\r\na=ice-pwd:4gV9gXqpbCw0JqHs8bEbqPzK\r\n"
    );
    for text in [
        session_only.clone(),
        format!("{session_only}m=audio 0 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"),
        // A live section outside the BUNDLE group is not read for transport.
        format!("{session_only}a=group:BUNDLE 7\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"),
    ] {
        let d = Description::parse(&text).unwrap();
        assert_eq!(d.fingerprint, Some(client_fingerprint()));
        assert_eq!(Description::parse(&d.to_sdp()).unwrap(), d);
    }
}
