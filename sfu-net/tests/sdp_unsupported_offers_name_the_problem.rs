//! Every way an offer can be unusable gets its own error variant, and the
//! message names the protocol element at fault.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sdp_support;

use sdp_support::*;
use sfu_net::sdp::limits::*;
use sfu_net::sdp::*;

fn publish_err(sdp: &str) -> SdpError {
    PublishOffer::parse(sdp)
        .and_then(|o| o.answer(&local(), &Capabilities::default()))
        .unwrap_err()
}

#[test]
fn oversize_description_and_long_line() {
    let big = format!("{PUBLISH}{}", "a=x\r\n".repeat(MAX_SDP_BYTES / 5));
    assert!(matches!(
        publish_err(&big),
        SdpError::TooLarge {
            limit: MAX_SDP_BYTES,
            ..
        }
    ));
    let long = replace_line(
        PUBLISH,
        "a=mid:0",
        &format!("a=mid:0\r\na=x:{}", "y".repeat(MAX_LINE_BYTES)),
    );
    assert!(matches!(publish_err(&long), SdpError::LineTooLong { .. }));
}

#[test]
fn not_sdp_is_a_syntax_error() {
    assert!(matches!(publish_err("hello"), SdpError::Syntax(_)));
    assert!(matches!(
        publish_err(""),
        SdpError::Syntax(_) | SdpError::NoMediaSections
    ));
    let bad_origin = PUBLISH.replacen("o=- ", "o=", 1);
    assert!(matches!(publish_err(&bad_origin), SdpError::Syntax(_)));
}

#[test]
fn too_many_m_sections() {
    let mut sdp = PUBLISH.to_owned();
    let video_start = sdp.find("m=video").unwrap();
    let video = PUBLISH[video_start..].to_owned();
    for i in 2..=MAX_MEDIA_SECTIONS {
        sdp.push_str(&video.replace("a=mid:1\r\n", &format!("a=mid:{i}\r\n")));
    }
    let err = publish_err(&sdp);
    assert!(
        matches!(
            err,
            SdpError::TooMany {
                what: "m-sections",
                ..
            } | SdpError::TooLarge { .. }
        ),
        "{err}"
    );
    // A smaller section makes the count, not the size, the limit.
    let mut sdp = PUBLISH.to_owned();
    for i in 2..=MAX_MEDIA_SECTIONS {
        sdp.push_str(&format!(
            "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=mid:{i}\r\na=rtpmap:111 opus/48000/2\r\n"
        ));
    }
    assert_eq!(
        publish_err(&sdp),
        SdpError::TooMany {
            what: "m-sections",
            limit: MAX_MEDIA_SECTIONS
        }
    );
}

#[test]
fn too_many_codecs_feedback_extensions_ssrcs_rids() {
    let pts: Vec<String> = (0..=MAX_CODECS as u8).map(|p| p.to_string()).collect();
    let sdp = PUBLISH.replace(
        "m=audio 50123 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        &format!("m=audio 50123 UDP/TLS/RTP/SAVPF {}", pts.join(" ")),
    );
    assert!(matches!(
        publish_err(&sdp),
        SdpError::TooMany {
            limit: MAX_CODECS,
            ..
        }
    ));

    let fbs: String = (0..=MAX_RTCP_FB)
        .map(|i| format!("a=rtcp-fb:111 x-{i}\r\n"))
        .collect();
    let sdp = replace_line(PUBLISH, "a=rtcp-fb:111 transport-cc", fbs.trim_end());
    assert!(matches!(
        publish_err(&sdp),
        SdpError::TooMany {
            limit: MAX_RTCP_FB,
            ..
        }
    ));

    let exts: String = (20..=20 + MAX_EXTENSIONS)
        .map(|i| format!("a=extmap:{i} urn:x:{i}\r\n"))
        .collect();
    let sdp = replace_line(
        PUBLISH,
        "a=mid:0",
        &format!("a=mid:0\r\n{}", exts.trim_end()),
    );
    assert!(matches!(
        publish_err(&sdp),
        SdpError::TooMany {
            limit: MAX_EXTENSIONS,
            ..
        }
    ));

    let ssrcs: String = (0..=MAX_SSRCS)
        .map(|i| format!("a=ssrc:{i} cname:x\r\n"))
        .collect();
    let sdp = replace_line(
        PUBLISH,
        "a=mid:0",
        &format!("a=mid:0\r\n{}", ssrcs.trim_end()),
    );
    assert!(matches!(
        publish_err(&sdp),
        SdpError::TooMany {
            limit: MAX_SSRCS,
            ..
        }
    ));

    let fids: String = (0..=MAX_RTX_PAIRS)
        .map(|i| format!("a=ssrc-group:FID {i} {}\r\n", i + 1000))
        .collect();
    let sdp = replace_line(
        PUBLISH,
        "a=mid:0",
        &format!("a=mid:0\r\n{}", fids.trim_end()),
    );
    assert!(matches!(
        publish_err(&sdp),
        SdpError::TooMany {
            limit: MAX_RTX_PAIRS,
            ..
        }
    ));

    let rids: String = (0..=MAX_RIDS)
        .map(|i| format!("a=rid:r{i} send\r\n"))
        .collect();
    let sdp = replace_line(SIMULCAST, "a=rid:q send", rids.trim_end());
    assert!(matches!(
        publish_err(&sdp),
        SdpError::TooMany {
            limit: MAX_RIDS,
            ..
        }
    ));

    let list: Vec<String> = (0..=MAX_RIDS).map(|i| format!("s{i}")).collect();
    let sdp = replace_line(
        SIMULCAST,
        "a=simulcast:send q;h;f",
        &format!("a=simulcast:send {}", list.join(";")),
    );
    assert!(matches!(
        publish_err(&sdp),
        SdpError::TooMany {
            what: "simulcast streams",
            ..
        }
    ));

    let sdp = replace_line(
        PUBLISH,
        "a=group:BUNDLE 0 1",
        "a=group:BUNDLE 0 1\r\na=group:BUNDLE 0",
    );
    assert!(matches!(
        publish_err(&sdp),
        SdpError::TooMany {
            what: "BUNDLE groups",
            ..
        }
    ));
}

#[test]
fn malformed_attributes_name_the_attribute() {
    for (from, to, attribute) in [
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus", "rtpmap"),
        (
            "a=rtpmap:111 opus/48000/2",
            "a=rtpmap:x opus/48000/2",
            "rtpmap",
        ),
        ("a=setup:actpass", "a=setup:sometimes", "setup"),
        (
            "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "a=extmap:0 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "extmap",
        ),
        (
            "a=ssrc:1001356942 cname:k3pLqR8sTuVw2XyZ",
            "a=ssrc:-5 cname:x",
            "ssrc",
        ),
        ("a=mid:0", "a=mid:", "mid"),
    ] {
        let sdp = PUBLISH.replacen(&format!("{from}\r\n"), &format!("{to}\r\n"), 1);
        assert_ne!(sdp, PUBLISH);
        match publish_err(&sdp) {
            SdpError::MalformedAttribute { attribute: a, .. } => assert_eq!(a, attribute, "{to}"),
            other => panic!("{to}: {other}"),
        }
    }
    let sdp = PUBLISH.replacen(CLIENT_FINGERPRINT, "A5:4D:ZZ", 1);
    assert!(matches!(
        publish_err(&sdp),
        SdpError::MalformedAttribute {
            attribute: "fingerprint",
            ..
        }
    ));
    let sdp = replace_line(SIMULCAST, "a=rid:q send", "a=rid:q sideways");
    assert!(matches!(
        publish_err(&sdp),
        SdpError::MalformedAttribute {
            attribute: "rid",
            ..
        }
    ));
    let sdp = replace_line(
        SIMULCAST,
        "a=simulcast:send q;h;f",
        "a=simulcast:both q;h;f",
    );
    assert!(matches!(
        publish_err(&sdp),
        SdpError::MalformedAttribute {
            attribute: "simulcast",
            ..
        }
    ));
}

#[test]
fn structural_problems() {
    let session_only: String = PUBLISH[..PUBLISH.find("m=audio").unwrap()].to_owned();
    assert_eq!(publish_err(&session_only), SdpError::NoMediaSections);
    assert_eq!(
        publish_err(&drop_lines(PUBLISH, "a=mid:1")),
        SdpError::MissingMid { index: 1 }
    );
    assert_eq!(
        publish_err(&replace_line(PUBLISH, "a=mid:1", "a=mid:0")),
        SdpError::DuplicateMid { mid: "0".into() }
    );
    let text = PUBLISH.replacen("m=video 50124", "m=text 50124", 1);
    assert_eq!(
        publish_err(&text),
        SdpError::UnsupportedMediaKind {
            kind: "text".into()
        }
    );
    let avp = PUBLISH.replacen(
        "m=video 50124 UDP/TLS/RTP/SAVPF",
        "m=video 50124 RTP/AVP",
        1,
    );
    assert_eq!(
        publish_err(&avp),
        SdpError::UnsupportedTransport {
            mid: "1".into(),
            proto: "RTP/AVP".into()
        }
    );
}

#[test]
fn bundle_and_rtcp_mux_are_required() {
    let err = publish_err(&drop_lines(PUBLISH, "a=group:BUNDLE"));
    assert_eq!(err, SdpError::MissingBundle);
    assert!(err.to_string().contains("BUNDLE"));
    assert_eq!(
        publish_err(&replace_line(
            PUBLISH,
            "a=group:BUNDLE 0 1",
            "a=group:BUNDLE 0"
        )),
        SdpError::NotBundled { mid: "1".into() }
    );
    assert_eq!(
        publish_err(&replace_line(
            PUBLISH,
            "a=group:BUNDLE 0 1",
            "a=group:BUNDLE 0 1 7"
        )),
        SdpError::UnknownBundleMid { mid: "7".into() }
    );
    let err = publish_err(&drop_lines(PUBLISH, "a=rtcp-mux"));
    assert_eq!(err, SdpError::MissingRtcpMux { mid: "0".into() });
    assert!(err.to_string().contains("rtcp-mux"));
}

#[test]
fn ice_and_dtls_parameters_are_required() {
    assert_eq!(
        publish_err(&drop_lines(PUBLISH, "a=ice-pwd")),
        SdpError::MissingIceCredentials
    );
    assert!(matches!(
        publish_err(&PUBLISH.replace("a=ice-ufrag:yTz1", "a=ice-ufrag:ab")),
        SdpError::InvalidIceCredentials { .. }
    ));
    assert!(matches!(
        publish_err(&PUBLISH.replace("a=ice-pwd:4gV9gXqpbCw0JqHs8bEbqPzK", "a=ice-pwd:short")),
        SdpError::InvalidIceCredentials { .. }
    ));
    assert_eq!(
        publish_err(&drop_lines(PUBLISH, "a=fingerprint")),
        SdpError::MissingFingerprint
    );
    let sha1 = PUBLISH.replace(
        &format!("a=fingerprint:sha-256 {CLIENT_FINGERPRINT}"),
        "a=fingerprint:sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB",
    );
    let err = publish_err(&sha1);
    assert_eq!(
        err,
        SdpError::UnsupportedFingerprintHash {
            hash: "sha-1".into()
        }
    );
    assert!(err.to_string().contains("sha-1"));
    assert_eq!(
        publish_err(&drop_lines(PUBLISH, "a=setup")),
        SdpError::MissingSetup
    );
    assert_eq!(
        publish_err(&PUBLISH.replace("a=setup:actpass", "a=setup:passive")),
        SdpError::UnsupportedSetup { setup: "passive" }
    );
    // `active` in an offer leaves the server role to us: accepted.
    PublishOffer::parse(&PUBLISH.replace("a=setup:actpass", "a=setup:active")).unwrap();
}

#[test]
fn no_common_codec_names_the_section() {
    let h265_only = PUBLISH.replace(
        "m=video 50124 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40 45 46 98 99 100 101 49 50 112 113 116 117 118",
        "m=video 50124 UDP/TLS/RTP/SAVPF 49 50",
    );
    assert_ne!(h265_only, PUBLISH);
    let err = publish_err(&h265_only);
    assert_eq!(
        err,
        SdpError::NoCommonCodec {
            mid: "1".into(),
            kind: MediaKind::Video
        }
    );
    assert_eq!(err.to_string(), "no common codec for video m-section \"1\"");
}

#[test]
fn simulcast_naming_an_undeclared_rid() {
    let sdp = replace_line(
        SIMULCAST,
        "a=simulcast:send q;h;f",
        "a=simulcast:send q;h;x",
    );
    assert_eq!(
        publish_err(&sdp),
        SdpError::UnknownRid {
            mid: "1".into(),
            rid: "x".into()
        }
    );
}

#[test]
fn offer_with_only_rejected_sections_has_nothing_to_negotiate() {
    let sdp = PUBLISH
        .replace("m=audio 50123", "m=audio 0")
        .replace("m=video 50124", "m=video 0");
    assert_eq!(publish_err(&sdp), SdpError::NothingToNegotiate);
}

#[test]
fn viewer_answer_refuses_unknown_mid_and_kind_mismatch() {
    let offer = ViewerOffer::parse(WHEP).unwrap();
    let track = OutgoingTrack {
        kind: MediaKind::Audio,
        codec: PayloadFormat {
            pt: 111,
            name: CodecName::Opus,
            clock_rate: 48_000,
            channels: Some(2),
            fmtp: None,
            rtcp_fb: vec![],
        },
        ssrc: 1,
        rtx_ssrc: None,
        msid: Msid {
            stream: "s".into(),
            track: "t".into(),
        },
        cname: "c".into(),
    };
    let caps = Capabilities::default();
    let to = |mid: &str| {
        [SectionSender {
            mid: mid.into(),
            track: track.clone(),
        }]
    };
    assert_eq!(
        offer.answer(&local(), &caps, &to("9")),
        Err(SdpError::UnknownMid { mid: "9".into() })
    );
    assert_eq!(
        offer.answer(&local(), &caps, &to("1")),
        Err(SdpError::TrackKindMismatch {
            mid: "1".into(),
            section: MediaKind::Video,
            track: MediaKind::Audio
        })
    );
    // A track whose codec the viewer did not offer.
    let mut g722 = track.clone();
    g722.codec = PayloadFormat {
        name: CodecName::Other("G722".into()),
        clock_rate: 8000,
        channels: None,
        ..track.codec
    };
    let err = offer
        .answer(
            &local(),
            &caps,
            &[SectionSender {
                mid: "0".into(),
                track: g722,
            }],
        )
        .unwrap_err();
    assert_eq!(
        err,
        SdpError::NoCommonCodec {
            mid: "0".into(),
            kind: MediaKind::Audio
        }
    );
}

#[test]
fn quoted_peer_text_in_errors_is_bounded() {
    let kind = "x".repeat(1000);
    let sdp = PUBLISH.replacen("m=video 50124", &format!("m={kind} 50124"), 1);
    // rtc-sdp refuses unknown media types itself; either way the message is short.
    let err = publish_err(&sdp);
    assert!(err.to_string().len() < 200, "{err}");
}

#[test]
fn track_ids_cannot_inject_sdp_lines() {
    let offer = ViewerOffer::parse(WHEP).unwrap();
    let track = OutgoingTrack {
        kind: MediaKind::Video,
        codec: PayloadFormat {
            pt: 96,
            name: CodecName::Vp8,
            clock_rate: 90_000,
            channels: None,
            fmtp: None,
            rtcp_fb: vec![],
        },
        ssrc: 1,
        rtx_ssrc: None,
        msid: Msid {
            stream: "cam\r\na=setup:active".into(),
            track: "t".into(),
        },
        cname: "c".into(),
    };
    let sender = [SectionSender {
        mid: "1".into(),
        track: track.clone(),
    }];
    let err = offer
        .answer(&local(), &Capabilities::default(), &sender)
        .unwrap_err();
    assert!(matches!(
        err,
        SdpError::MalformedAttribute {
            attribute: "msid",
            ..
        }
    ));
    let mut neg = Negotiation::new(local(), Capabilities::default());
    let mut bad_cname = track;
    bad_cname.msid.stream = "cam".into();
    bad_cname.cname = String::new();
    assert!(matches!(
        neg.add_track(&bad_cname),
        Err(SdpError::MalformedAttribute {
            attribute: "ssrc",
            ..
        })
    ));
}
