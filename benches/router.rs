//! Cost of the router's hot path: one publisher packet in, rewritten copies
//! for N subscribers out (serialized into a send buffer, as a transport
//! would). The baseline in the same run is the least any SFU must do:
//! copy the packet into a send buffer.
//!
//! - `router/fanout/N` (N = 1, 10, 100, 1000): one packet to N subscribers;
//!   throughput is N elements, so criterion's per-element time is the cost
//!   per forwarded packet.
//! - `router/memcpy_1200`: one 1200-byte copy into a send buffer, the floor
//!   per forwarded packet.
//!
//! `cargo bench --bench router`

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sfu::router::{
    Codec, CodecConfig, ExtensionMap, LayerConfig, Output, PullConfig, Router, RouterConfig,
    SessionConfig, SessionId, TrackConfig,
};
use sfu_testkit::rtp::Rtp;

fn packet(seq: u16, ext: bool) -> Bytes {
    let mut payload = vec![0x10, 0x01];
    payload.resize(1100, 0x55);
    let mut rtp = Rtp::new(0x100, 96, seq, u32::from(seq) * 3000).payload(&payload);
    if ext {
        rtp = rtp.extensions(&[(4, b"1"), (2, &[1, 2, 3]), (3, &[0, 1])]);
    }
    let p = rtp.bytes();
    // Shared like a pooled receive buffer: clones are refcount increments.
    drop(p.clone());
    p
}

fn call(subscribers: u32) -> (Router, SessionId, Instant) {
    let now = Instant::now();
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
    r.publish_track(
        now,
        a,
        TrackConfig::video(
            "cam",
            CodecConfig::new(96, Codec::Vp8),
            vec![LayerConfig::ssrc(0x100)],
        )
        .with_mid("1"),
    )
    .unwrap();
    for i in 0..subscribers {
        let s = r
            .create_session(
                now,
                SessionConfig {
                    extensions: ext,
                    rtcp_ssrc: None,
                },
            )
            .unwrap();
        let pull =
            PullConfig::new(0x1000 + i, vec![CodecConfig::new(100, Codec::Vp8)]).with_mid("0");
        r.pull_track(now, s, a, "cam", pull).unwrap();
    }
    // Start delivery with a keyframe.
    let mut key = vec![0x10, 0x00];
    key.resize(1100, 0);
    let first = Rtp::new(0x100, 96, 0, 0).marker(true).payload(&key);
    r.handle_rtp(now, a, first.bytes()).unwrap();
    while r.poll_output().is_some() {}
    (r, a, now)
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("router");
    let packets: Vec<Bytes> = (1..=4096u16).map(|s| packet(s, true)).collect();
    for n in [1u32, 10, 100, 1000] {
        group.throughput(Throughput::Elements(u64::from(n)));
        let (mut r, a, now) = call(n);
        let mut buf = [0u8; 1500];
        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("fanout", n), |b| {
            b.iter(|| {
                let p = packets[i % packets.len()].clone();
                i += 1;
                r.handle_rtp(now + Duration::from_micros(i as u64 * 100), a, p)
                    .unwrap();
                while let Some(out) = r.poll_output() {
                    if let Output::Rtp { packet, .. } = out {
                        black_box(packet.write_to(&mut buf).unwrap());
                    }
                }
            })
        });
    }
    group.throughput(Throughput::Elements(1));
    let raw = vec![0x55u8; 1200];
    let mut buf = [0u8; 1500];
    group.bench_function("memcpy_1200", |b| {
        b.iter(|| {
            buf[..raw.len()].copy_from_slice(black_box(&raw));
            black_box(&mut buf);
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = fanout
}
criterion_main!(benches);
