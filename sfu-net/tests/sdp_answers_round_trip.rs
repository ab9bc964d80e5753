//! The SFU's answers to Chromium's publish, simulcast and WHEP offers say
//! what the issue asks for, and parse back to exactly the description they
//! were printed from.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sdp_support;

use sdp_support::*;
use sfu_net::sdp::*;

fn lines(sdp: &str) -> Vec<&str> {
    sdp.split("\r\n").collect()
}

#[test]
fn publish_answer_is_ice_lite_passive_recvonly_with_one_candidate() {
    let offer = PublishOffer::parse(PUBLISH).unwrap();
    let answer = offer.answer(&local(), &Capabilities::default()).unwrap();
    let text = answer.to_sdp();
    let l = lines(&text);
    assert!(l.contains(&"a=ice-lite"));
    assert!(l.contains(&"a=group:BUNDLE 0 1"));
    assert_eq!(l.iter().filter(|x| **x == "a=setup:passive").count(), 2);
    assert_eq!(l.iter().filter(|x| **x == "a=recvonly").count(), 2);
    assert_eq!(l.iter().filter(|x| **x == "a=rtcp-mux").count(), 2);
    assert_eq!(l.iter().filter(|x| **x == "a=end-of-candidates").count(), 2);
    assert!(l.contains(&"a=ice-ufrag:sfuUfrag"));
    assert!(l.contains(&"a=ice-pwd:sfuPasswordSfuPassword24"));
    let fp = format!("a=fingerprint:{}", local().fingerprint);
    assert!(l.contains(&fp.as_str()));
    // The announced address, not a bind address.
    assert!(l.contains(&"a=candidate:1 1 udp 2130706431 203.0.113.7 8443 typ host"));
    assert!(l.contains(&"c=IN IP4 203.0.113.7"));
    assert!(text.ends_with("\r\n"));
    // Round trip.
    assert_eq!(Description::parse(&text).unwrap(), answer);
}

#[test]
fn publish_answer_keeps_offer_payload_types_and_extension_ids() {
    let offer = PublishOffer::parse(PUBLISH).unwrap();
    let answer = offer.answer(&local(), &Capabilities::default()).unwrap();
    let audio = answer.section("0").unwrap();
    let pts: Vec<u8> = audio.codecs.iter().map(|c| c.pt).collect();
    assert_eq!(pts, [111]);
    assert_eq!(
        audio.codecs[0].fmtp.as_deref(),
        Some("minptime=10;useinbandfec=1")
    );
    assert_eq!(audio.codecs[0].rtcp_fb, [RtcpFeedback::TransportCc]);
    let ids: Vec<(u8, ExtensionUri)> = audio
        .extensions
        .iter()
        .map(|e| (e.id, e.uri.clone()))
        .collect();
    assert_eq!(
        ids,
        [
            (1, ExtensionUri::AudioLevel),
            (2, ExtensionUri::AbsSendTime),
            (3, ExtensionUri::TransportCc),
            (4, ExtensionUri::Mid)
        ]
    );

    let video = answer.section("1").unwrap();
    let pts: Vec<u8> = video.codecs.iter().map(|c| c.pt).collect();
    assert_eq!(pts, [96, 97], "VP8 and its RTX, offer's numbers");
    assert_eq!(
        video.codecs[0].rtcp_fb,
        [
            RtcpFeedback::TransportCc,
            RtcpFeedback::CcmFir,
            RtcpFeedback::Nack,
            RtcpFeedback::NackPli
        ],
        "goog-remb dropped: the SFU does not produce REMB"
    );
    assert_eq!(video.codecs[1].apt(), Some(96));
    let uris: Vec<ExtensionUri> = video.extensions.iter().map(|e| e.uri.clone()).collect();
    assert_eq!(
        uris,
        [
            ExtensionUri::AbsSendTime,
            ExtensionUri::TransportCc,
            ExtensionUri::Mid,
            ExtensionUri::Rid,
            ExtensionUri::RepairedRid
        ]
    );
    assert_eq!(video.extension_id(&ExtensionUri::Rid), Some(10));
    assert!(video.ssrcs.is_empty() && video.msid.is_none());
}

#[test]
fn publish_answer_follows_capability_preference_order() {
    let offer = PublishOffer::parse(PUBLISH).unwrap();
    let mut caps = Capabilities::default();
    caps.codecs.retain(|c| c.template.name != CodecName::Vp8);
    let answer = offer.answer(&local(), &caps).unwrap();
    let video = answer.section("1").unwrap();
    // H.264 constrained baseline with packetization-mode 1 is pt 106 in the
    // offer (42e01f); 102 is baseline (42001f) and does not match.
    let pts: Vec<u8> = video.codecs.iter().map(|c| c.pt).collect();
    assert_eq!(pts, [106, 107]);

    caps.codecs.retain(|c| c.template.name != CodecName::H264);
    let video = offer
        .answer(&local(), &caps)
        .unwrap()
        .section("1")
        .cloned()
        .unwrap();
    assert_eq!(video.codecs[0].pt, 98, "VP9 profile 0, not profile 2");
    caps.codecs.retain(|c| c.template.name != CodecName::Vp9);
    let video = offer
        .answer(&local(), &caps)
        .unwrap()
        .section("1")
        .cloned()
        .unwrap();
    assert_eq!(video.codecs[0].name, CodecName::Av1);
    assert_eq!(video.codecs[1].pt, 46);
}

#[test]
fn publish_answer_without_rtx_capability_has_no_rtx() {
    let offer = PublishOffer::parse(PUBLISH).unwrap();
    let caps = Capabilities {
        rtx: false,
        ..Capabilities::default()
    };
    let video = offer
        .answer(&local(), &caps)
        .unwrap()
        .section("1")
        .cloned()
        .unwrap();
    assert_eq!(video.codecs.len(), 1);
}

#[test]
fn simulcast_answer_mirrors_rids_as_recv() {
    let offer = PublishOffer::parse(SIMULCAST).unwrap();
    let answer = offer.answer(&local(), &Capabilities::default()).unwrap();
    let text = answer.to_sdp();
    let l = lines(&text);
    for rid in ["q", "h", "f"] {
        let line = format!("a=rid:{rid} recv");
        assert!(l.contains(&line.as_str()), "missing {line}");
    }
    assert!(l.contains(&"a=simulcast:recv q;h;f"));
    assert_eq!(Description::parse(&text).unwrap(), answer);
}

#[test]
fn simulcast_is_dropped_when_the_rid_extension_is_not_offered() {
    let sdp = replace_line(
        SIMULCAST,
        "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        "a=extmap:10 urn:example:not-rid",
    );
    let offer = PublishOffer::parse(&sdp).unwrap();
    let answer = offer.answer(&local(), &Capabilities::default()).unwrap();
    let video = answer.section("1").unwrap();
    assert!(video.simulcast.is_none() && video.rids.is_empty());
}

#[test]
fn data_channel_section_is_rejected_and_left_out_of_bundle() {
    let sdp = replace_line(PUBLISH, "a=group:BUNDLE 0 1", "a=group:BUNDLE 0 1 2");
    let sdp = format!(
        "{sdp}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n\
         a=ice-ufrag:yTz1\r\na=ice-pwd:4gV9gXqpbCw0JqHs8bEbqPzK\r\n\
         a=fingerprint:sha-256 {CLIENT_FINGERPRINT}\r\na=setup:actpass\r\na=mid:2\r\n\
         a=sctp-port:5000\r\na=max-message-size:262144\r\n"
    );
    let offer = PublishOffer::parse(&sdp).unwrap();
    let answer = offer.answer(&local(), &Capabilities::default()).unwrap();
    assert_eq!(answer.bundle, ["0", "1"]);
    let data = answer.section("2").unwrap();
    assert!(data.is_rejected());
    let text = answer.to_sdp();
    assert!(text.contains("m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
    assert_eq!(Description::parse(&text).unwrap(), answer);
}

#[test]
fn recvonly_section_in_a_publish_offer_is_answered_inactive() {
    let sdp = PUBLISH.replacen("a=sendonly", "a=recvonly", 1);
    let offer = PublishOffer::parse(&sdp).unwrap();
    let answer = offer.answer(&local(), &Capabilities::default()).unwrap();
    assert_eq!(answer.section("0").unwrap().direction, Direction::Inactive);
    assert_eq!(answer.section("1").unwrap().direction, Direction::RecvOnly);
}

fn published_vp8() -> PayloadFormat {
    // As the publisher negotiated it: Firefox numbers VP8 120.
    PayloadFormat {
        pt: 120,
        name: CodecName::Vp8,
        clock_rate: 90_000,
        channels: None,
        fmtp: Some("max-fs=12288;max-fr=60".into()),
        rtcp_fb: vec![],
    }
}

fn published_opus() -> PayloadFormat {
    PayloadFormat {
        pt: 109,
        name: CodecName::Opus,
        clock_rate: 48_000,
        channels: Some(2),
        fmtp: None,
        rtcp_fb: vec![],
    }
}

fn msid(track: &str) -> Msid {
    Msid {
        stream: "stream-a".into(),
        track: track.into(),
    }
}

fn senders() -> Vec<SectionSender> {
    vec![
        SectionSender {
            mid: "0".into(),
            track: OutgoingTrack {
                kind: MediaKind::Audio,
                codec: published_opus(),
                ssrc: 11,
                rtx_ssrc: None,
                msid: msid("audio-a"),
                cname: "sfu-cname".into(),
            },
        },
        SectionSender {
            mid: "1".into(),
            track: OutgoingTrack {
                kind: MediaKind::Video,
                codec: published_vp8(),
                ssrc: 22,
                rtx_ssrc: Some(23),
                msid: msid("video-a"),
                cname: "sfu-cname".into(),
            },
        },
    ]
}

#[test]
fn whep_answer_is_sendonly_with_our_ssrcs_fid_group_msid_and_cname() {
    let offer = ViewerOffer::parse(WHEP).unwrap();
    let answer = offer
        .answer(&local(), &Capabilities::default(), &senders())
        .unwrap();
    let text = answer.to_sdp();
    let l = lines(&text);
    assert_eq!(l.iter().filter(|x| **x == "a=sendonly").count(), 2);
    assert!(l.contains(&"a=ssrc-group:FID 22 23"));
    assert!(l.contains(&"a=ssrc:22 cname:sfu-cname"));
    assert!(l.contains(&"a=ssrc:23 msid:stream-a video-a"));
    assert!(l.contains(&"a=msid:stream-a audio-a"));
    let video = answer.section("1").unwrap();
    // The viewer's payload types for the published codec (the router
    // rewrites 120 -> 96).
    let pts: Vec<u8> = video.codecs.iter().map(|c| c.pt).collect();
    assert_eq!(pts, [96, 97]);
    assert_eq!(answer.section("0").unwrap().codecs[0].pt, 111);
    assert!(video.extension_id(&ExtensionUri::Rid).is_none());
    assert_eq!(video.extension_id(&ExtensionUri::TransportCc), Some(3));
    assert_eq!(Description::parse(&text).unwrap(), answer);
}

#[test]
fn whep_answer_rejects_sections_without_a_track() {
    let offer = ViewerOffer::parse(WHEP).unwrap();
    let only_video = &senders()[1..];
    let answer = offer
        .answer(&local(), &Capabilities::default(), only_video)
        .unwrap();
    assert!(answer.section("0").unwrap().is_rejected());
    assert_eq!(answer.bundle, ["1"]);
}

#[test]
fn whep_answer_without_viewer_rtx_has_no_rtx_ssrc() {
    let sdp = drop_lines(WHEP, "a=fmtp:97 apt=96");
    let offer = ViewerOffer::parse(&sdp).unwrap();
    let answer = offer
        .answer(&local(), &Capabilities::default(), &senders())
        .unwrap();
    let video = answer.section("1").unwrap();
    assert_eq!(video.codecs.len(), 1);
    assert!(video.rtx_pairs.is_empty());
    assert_eq!(video.ssrcs.len(), 1);
}

#[test]
fn whep_answer_for_h264_track_picks_matching_profile() {
    let offer = ViewerOffer::parse(WHEP).unwrap();
    let mut s = senders();
    s[1].track.codec = PayloadFormat {
        pt: 126,
        name: CodecName::H264,
        clock_rate: 90_000,
        channels: None,
        fmtp: Some("profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1".into()),
        rtcp_fb: vec![],
    };
    let answer = offer
        .answer(&local(), &Capabilities::default(), &s)
        .unwrap();
    let pts: Vec<u8> = answer
        .section("1")
        .unwrap()
        .codecs
        .iter()
        .map(|c| c.pt)
        .collect();
    assert_eq!(pts, [106, 107]);
}

#[test]
fn published_tracks_summarise_what_the_router_receives() {
    let offer = PublishOffer::parse(PUBLISH).unwrap();
    let answer = offer.answer(&local(), &Capabilities::default()).unwrap();
    let tracks = offer.tracks(&answer);
    assert_eq!(tracks.len(), 2);
    let audio = &tracks[0];
    assert_eq!((audio.mid.as_str(), audio.kind), ("0", MediaKind::Audio));
    assert_eq!(audio.codec.pt, 111);
    assert_eq!(audio.ssrc, Some(1_001_356_942));
    assert_eq!((audio.rtx_pt, audio.rtx_ssrc), (None, None));
    let video = &tracks[1];
    assert_eq!(video.codec.name, CodecName::Vp8);
    assert_eq!(video.rtx_pt, Some(97));
    assert_eq!(video.ssrc, Some(2_739_014_581));
    assert_eq!(video.rtx_ssrc, Some(3_522_149_230));
    assert_eq!(
        video.msid.as_ref().unwrap().track,
        "8e7d6c5b-4a39-4281-8f7e-6d5c4b3a2910"
    );
    assert!(video.rids.is_empty());

    let offer = PublishOffer::parse(SIMULCAST).unwrap();
    let answer = offer.answer(&local(), &Capabilities::default()).unwrap();
    let video = &offer.tracks(&answer)[1];
    assert_eq!(video.rids, ["q", "h", "f"]);
    assert_eq!(video.ssrc, None, "learned from the rid header extension");
    assert_eq!(
        video
            .extensions
            .iter()
            .find(|e| e.uri == ExtensionUri::Rid)
            .map(|e| e.id),
        Some(10)
    );
}

#[test]
fn sendrecv_publish_section_is_answered_recvonly() {
    // `pc.addTrack()` without a direction offers sendrecv.
    let sdp = PUBLISH.replace("a=sendonly", "a=sendrecv");
    let answer = PublishOffer::parse(&sdp)
        .unwrap()
        .answer(&local(), &Capabilities::default())
        .unwrap();
    assert!(
        answer
            .sections
            .iter()
            .all(|s| s.direction == Direction::RecvOnly)
    );
}

#[test]
fn ipv6_announced_address_is_written_as_ip6() {
    let mut local6 = local();
    local6.candidates = vec!["[2001:db8::7]:8443".parse().unwrap()];
    let answer = PublishOffer::parse(PUBLISH)
        .unwrap()
        .answer(&local6, &Capabilities::default())
        .unwrap();
    let text = answer.to_sdp();
    assert!(text.contains("c=IN IP6 2001:db8::7\r\n"));
    assert!(text.contains("a=candidate:1 1 udp 2130706431 2001:db8::7 8443 typ host\r\n"));
    assert_eq!(Description::parse(&text).unwrap(), answer);
}
