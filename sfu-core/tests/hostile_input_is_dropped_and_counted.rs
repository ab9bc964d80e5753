//! Whatever a peer sends, the router drops what it cannot use with a typed
//! error, counts it, keeps its maps bounded, and keeps forwarding.

mod common;

use bytes::Bytes;
use sfu_core::{
    Codec, CodecConfig, Error, ExtensionMap, LayerConfig, Output, PullConfig, Router, RouterConfig,
    SessionConfig, TrackConfig,
};
use sfu_testkit::rng::Rng;

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut p = seed.to_vec();
    match rng.below(4) {
        0 => p.truncate(rng.below(p.len() + 1)),
        1 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(p.len());
                p[i] = rng.byte();
            }
        }
        2 => p = (0..rng.below(200)).map(|_| rng.byte()).collect(),
        _ => {
            let extra = rng.below(64);
            p.extend((0..extra).map(|_| rng.byte()));
        }
    }
    p
}

#[test]
fn mutated_rtp_and_rtcp_never_panic_and_forwarding_continues() {
    let mut call = common::Call::new(2);
    let mut rng = Rng::new(0x5EED);
    let rtp_seeds = [
        common::rtp(0x100, 96, 1, 0, &[(4, b"1"), (10, b"f")], common::VP8_KEY),
        common::rtp(0x101, 97, 1, 0, &[], &[0, 1, 0x10, 1]),
    ];
    let rtcp_seeds: [&[u8]; 4] = [
        &[
            0x80, 200, 0, 6, 0, 0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
        ],
        &[0x81, 206, 0, 2, 0, 0, 0, 9, 0, 0, 2, 0],
        &[0x81, 205, 0, 3, 0, 0, 0, 9, 0, 0, 2, 0, 0, 5, 0xff, 0xff],
        // REMB with the largest exponent: formatting it would panic.
        &[
            0x8f, 206, 0, 5, 0, 0, 0, 9, 0, 0, 0, 0, b'R', b'E', b'M', b'B', 1, 0xff, 0xff, 0xff,
            0, 0, 2, 0,
        ],
    ];
    let now = call.now;
    let (publisher, subscriber) = (call.publisher, call.subscribers[0].0);
    for i in 0..200_000u32 {
        let session = if i % 2 == 0 { publisher } else { subscriber };
        if rng.below(2) == 0 {
            let seed = &rtp_seeds[rng.below(rtp_seeds.len())];
            let _ = call
                .router
                .handle_rtp(now, session, Bytes::from(mutate(&mut rng, seed)));
        } else {
            let seed = rtcp_seeds[rng.below(rtcp_seeds.len())];
            let _ = call
                .router
                .handle_rtcp(now, session, Bytes::from(mutate(&mut rng, seed)));
        }
        if i % 1000 == 0 {
            call.drain();
        }
    }
    call.drain();
    let stats = call.router.stats();
    assert!(stats.rtp_malformed > 1000, "{stats:?}");
    assert!(stats.rtcp_malformed > 1000, "{stats:?}");
    // The live session still forwards.
    call.send(60_000, 1, common::VP8_KEY);
    let delivered = call
        .drain()
        .iter()
        .filter(|o| matches!(o, Output::Rtp { .. }))
        .count();
    assert_eq!(delivered, 2);
}

#[test]
fn unannounced_ssrcs_are_dropped_and_counted() {
    let mut call = common::Call::new(1);
    let now = call.now;
    for ssrc in 0..10_000u32 {
        let p = common::rtp(0x10_0000 + ssrc, 96, 1, 0, &[], common::VP8_KEY);
        assert_eq!(
            call.router.handle_rtp(now, call.publisher, p),
            Err(Error::UnknownSsrc(0x10_0000 + ssrc))
        );
    }
    assert_eq!(call.router.stats().rtp_unknown_ssrc, 10_000);
    assert!(call.drain().is_empty());
}

#[test]
fn rid_binding_takes_one_ssrc_per_layer_and_no_more() {
    let now = std::time::Instant::now();
    let mut r = Router::new(RouterConfig::default());
    let ext = ExtensionMap::chromium_defaults();
    let a = r
        .create_session(
            now,
            SessionConfig {
                extensions: ext,
                rtcp_ssrc: None,
            },
        )
        .unwrap();
    let layers = vec![LayerConfig::rid("q"), LayerConfig::rid("f")];
    r.publish_track(
        now,
        a,
        TrackConfig::video("cam", CodecConfig::new(96, Codec::Vp8), layers).with_mid("1"),
    )
    .unwrap();
    let b = r.create_session(now, SessionConfig::default()).unwrap();
    r.pull_track(
        now,
        b,
        a,
        "cam",
        PullConfig::new(9, vec![CodecConfig::new(96, Codec::Vp8)]),
    )
    .unwrap();
    let with_rid = |ssrc: u32, rid: &[u8], mid: &[u8]| {
        common::rtp(ssrc, 96, 1, 0, &[(4, mid), (10, rid)], common::VP8_KEY)
    };
    r.handle_rtp(now, a, with_rid(1000, b"f", b"1")).unwrap();
    // A second SSRC claiming the same layer, an unknown RID, a wrong mid.
    assert_eq!(
        r.handle_rtp(now, a, with_rid(1001, b"f", b"1")),
        Err(Error::UnknownSsrc(1001))
    );
    assert_eq!(
        r.handle_rtp(now, a, with_rid(1002, b"x", b"1")),
        Err(Error::UnknownSsrc(1002))
    );
    assert_eq!(
        r.handle_rtp(now, a, with_rid(1003, b"q", b"7")),
        Err(Error::UnknownSsrc(1003))
    );
    // The bound SSRC keeps working.
    r.handle_rtp(now, a, common::rtp(1000, 96, 2, 0, &[], common::VP8_DELTA))
        .unwrap();
}
