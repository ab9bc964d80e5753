//! The forwarding hot path allocates nothing per packet in the steady state:
//! 1 000 packets fanned out to 10 subscribers, counted by a global allocator.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_core::{
    Codec, CodecConfig, Fallback, LayerConfig, PullConfig, Router, RouterConfig, SessionConfig,
    Simulcast, TrackConfig,
};

#[global_allocator]
static GLOBAL: sfu_testkit::alloc::Counting = sfu_testkit::alloc::Counting;

/// Packets as a transport would hand them over: already in shared buffers
/// (cloning one is a refcount increment).
fn inputs(ssrc: u32, first_seq: u16, n: usize, exts: &[(u8, &[u8])]) -> Vec<Bytes> {
    (0..n)
        .map(|i| {
            let payload = if i == 0 {
                common::VP8_KEY
            } else {
                &[0x10, 0x01, 7, 7, 7, 7][..]
            };
            let mut body = payload.to_vec();
            body.resize(1000, 7);
            let p = common::rtp(
                ssrc,
                96,
                first_seq.wrapping_add(i as u16),
                i as u32 * 3000,
                exts,
                &body,
            );
            drop(p.clone());
            p
        })
        .collect()
}

fn count_allocations(
    router: &mut Router,
    now: Instant,
    session: sfu_core::SessionId,
    packets: &[Bytes],
) -> (usize, usize) {
    let mut forwarded = 0;
    let mut buf = [0u8; 1500];
    let ((), allocations) = sfu_testkit::alloc::count(|| {
        for (i, p) in packets.iter().enumerate() {
            let t = now + Duration::from_millis(i as u64);
            router.handle_rtp(t, session, p.clone()).unwrap();
            while let Some(out) = router.poll_output() {
                if let sfu_core::Output::Rtp { packet, .. } = out {
                    // Serialize as a transport would, into its own buffer.
                    forwarded += usize::from(packet.write_to(&mut buf).unwrap() > 0);
                }
            }
        }
    });
    (allocations, forwarded)
}

#[test]
fn the_counter_counts() {
    let (v, allocations) =
        sfu_testkit::alloc::count(|| Vec::<u8>::with_capacity(std::hint::black_box(64)));
    drop(v);
    assert_eq!(allocations, 1);
}

#[test]
fn forwarding_1000_packets_to_10_subscribers_allocates_nothing() {
    let mut call = common::Call::new(10);
    let warmup = inputs(0x100, 0, 200, &[]);
    let measured = inputs(0x100, 200, 1000, &[]);
    let (now, publisher) = (call.now, call.publisher);
    count_allocations(&mut call.router, now, publisher, &warmup);
    let (allocations, forwarded) = count_allocations(&mut call.router, now, publisher, &measured);
    assert_eq!(forwarded, 10_000);
    assert_eq!(
        allocations, 0,
        "allocations while forwarding {forwarded} packets"
    );
}

#[test]
fn simulcast_with_extensions_allocates_nothing_either() {
    let now = Instant::now();
    let mut r = Router::new(RouterConfig::default());
    let ext = sfu_core::ExtensionMap::chromium_defaults();
    let a = r
        .create_session(
            now,
            SessionConfig {
                extensions: ext,
                rtcp_ssrc: None,
            },
        )
        .unwrap();
    let layers = vec![
        LayerConfig::ssrc(1),
        LayerConfig::ssrc(2),
        LayerConfig::ssrc(3),
    ];
    r.publish_track(
        now,
        a,
        TrackConfig::video("cam", CodecConfig::new(96, Codec::Vp8), layers).with_mid("1"),
    )
    .unwrap();
    for i in 0..10u32 {
        let s = r
            .create_session(
                now,
                SessionConfig {
                    extensions: ext,
                    rtcp_ssrc: None,
                },
            )
            .unwrap();
        let pull = PullConfig::new(100 + i, vec![CodecConfig::new(98, Codec::Vp8)])
            .with_mid("0")
            .with_policy(Simulcast::new(None, Fallback::Auto));
        r.pull_track(now, s, a, "cam", pull).unwrap();
    }
    let exts: &[(u8, &[u8])] = &[(4, b"1"), (2, &[1, 2, 3]), (3, &[0, 9])];
    // Interleave the three layers as a simulcast publisher does.
    let per_layer: Vec<Vec<Bytes>> = (1..=3).map(|ssrc| inputs(ssrc, 0, 400, exts)).collect();
    let interleaved: Vec<Bytes> = (0..400)
        .flat_map(|i| per_layer.iter().map(move |l| l[i].clone()))
        .collect();
    let (warmup, measured) = interleaved.split_at(200);
    count_allocations(&mut r, now, a, warmup);
    let (allocations, forwarded) = count_allocations(&mut r, now, a, &measured[..1000]);
    assert!(forwarded >= 3000, "forwarded {forwarded}");
    assert_eq!(
        allocations, 0,
        "allocations while forwarding {forwarded} packets"
    );
}
