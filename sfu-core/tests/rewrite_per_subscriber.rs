//! Each subscriber gets the packet in its own terms: SSRC, payload type,
//! header-extension ids; extensions it did not negotiate are removed.

mod common;

use std::time::Instant;

use bytes::Bytes;
use sfu_core::{
    Codec, CodecConfig, ExtensionKind, ExtensionMap, LayerConfig, Output, PullConfig, Router,
    RouterConfig, RtpPacket, SessionConfig, TrackConfig,
};

#[test]
fn payload_types_and_extension_ids_are_mapped_and_unnegotiated_ones_removed() {
    let now = Instant::now();
    let mut r = Router::new(RouterConfig::default());
    let publisher_ext = ExtensionMap::chromium_defaults();
    let a = r
        .create_session(
            now,
            SessionConfig {
                extensions: publisher_ext,
                rtcp_ssrc: None,
            },
        )
        .unwrap();
    r.publish_track(
        now,
        a,
        TrackConfig::video(
            "cam",
            CodecConfig::new(96, Codec::Vp8),
            vec![LayerConfig::ssrc(7)],
        )
        .with_mid("1"),
    )
    .unwrap();
    // The subscriber negotiated other ids, and no abs-send-time.
    let mut sub_ext = ExtensionMap::new();
    sub_ext
        .set(ExtensionKind::Mid, 9)
        .set(ExtensionKind::TransportCc, 5)
        .set(ExtensionKind::AudioLevel, 12);
    let b = r
        .create_session(
            now,
            SessionConfig {
                extensions: sub_ext,
                rtcp_ssrc: None,
            },
        )
        .unwrap();
    r.pull_track(
        now,
        b,
        a,
        "cam",
        PullConfig::new(0xBEEF, vec![CodecConfig::new(120, Codec::Vp8)]).with_mid("3"),
    )
    .unwrap();
    let input = common::rtp(
        7,
        96,
        10,
        90,
        &[(4, b"1"), (2, &[1, 2, 3]), (3, &[0, 1]), (10, b"f")],
        common::VP8_KEY,
    );
    r.handle_rtp(now, a, input).unwrap();
    let Some(Output::Rtp {
        session, packet, ..
    }) = r.poll_output()
    else {
        panic!("no output")
    };
    assert_eq!(session, b);
    let out = RtpPacket::parse(Bytes::from(packet.to_vec())).unwrap();
    assert_eq!((out.ssrc, out.payload_type), (0xBEEF, 120));
    let exts: Vec<(u8, Vec<u8>)> = out.extensions().map(|(id, v)| (id, v.to_vec())).collect();
    assert_eq!(exts, vec![(9, b"3".to_vec()), (5, vec![0, 1])]);
    assert_eq!(out.payload_slice(), common::VP8_KEY);
}

#[test]
fn packets_for_a_codec_the_subscriber_lacks_are_not_sent() {
    let now = Instant::now();
    let mut r = Router::new(RouterConfig::default());
    let a = r.create_session(now, SessionConfig::default()).unwrap();
    r.publish_track(now, a, TrackConfig::audio("mic", 1, 111))
        .unwrap();
    let b = r.create_session(now, SessionConfig::default()).unwrap();
    r.pull_track(
        now,
        b,
        a,
        "mic",
        PullConfig::new(2, vec![CodecConfig::new(0, Codec::Other)]),
    )
    .unwrap();
    r.handle_rtp(now, a, common::rtp(1, 111, 1, 1, &[], &[1]))
        .unwrap();
    assert!(r.poll_output().is_none());
}

#[test]
fn padding_only_packets_leave_no_gap_but_losses_do() {
    let mut call = common::Call::new(1);
    call.send(100, 0, common::VP8_KEY);
    call.send(101, 0, &[]); // padding-only: dropped, gap closed
    call.send(102, 3000, common::VP8_DELTA);
    call.send(105, 6000, common::VP8_DELTA); // 103 and 104 lost upstream
    let seqs: Vec<u16> = call
        .drain()
        .into_iter()
        .filter_map(|o| match o {
            Output::Rtp { packet, .. } => Some(packet.sequence_number),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, vec![100, 101, 104]);
}

#[test]
fn rtx_from_the_publisher_repairs_the_original_stream() {
    let mut call = common::Call::new(1);
    call.send(1, 0, common::VP8_KEY);
    call.send(3, 3000, common::VP8_DELTA);
    let mut rtx_payload = vec![0, 2];
    rtx_payload.extend_from_slice(common::VP8_DELTA);
    let rtx = common::rtp(0x101, 97, 500, 3000, &[], &rtx_payload);
    let now = call.now;
    call.router.handle_rtp(now, call.publisher, rtx).unwrap();
    let seqs: Vec<(u16, u32)> = call
        .drain()
        .into_iter()
        .filter_map(|o| match o {
            Output::Rtp { packet, .. } => Some((packet.sequence_number, packet.ssrc)),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, vec![(1, 0x200), (3, 0x200), (2, 0x200)]);
    assert_eq!(call.router.stats().rtx_received, 1);
}
