//! Per-packet cost of the NACK shield on the forwarding hot path.
//!
//! - `nack/cache_insert_lookup`: store one packet in a full, steady-state
//!   retransmission cache (416 packets/s, the 1 s / 4 Mbit/s default) and
//!   look one up, as a responder does per forwarded packet and per NACK.
//! - `nack/baseline_hashmap_insert_lookup`: the same work on a bounded
//!   `HashMap`, the usual naive cache, measured in the same run.
//! - `nack/detector_per_packet`: one packet through the loss detector (with
//!   the NACK drain that follows it) on a stream with 1% loss whose repairs
//!   arrive 20 packets later.
//! - `nack/baseline_seq_unwrap`: extending the sequence number alone, the
//!   least any receive path does per packet.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sfu_nack::{CacheConfig, DetectorConfig, LossDetector, RetransmitCache, SeqUnwrapper};

/// Roughly what a router caches: a parsed header and a shared payload.
#[derive(Clone)]
struct Packet {
    seq: u16,
    timestamp: u32,
    payload: Bytes,
}

/// 4 Mbit/s in 1200-byte packets.
const PACKET_INTERVAL: Duration = Duration::from_micros(2400);

fn cache(c: &mut Criterion) {
    let mut group = c.benchmark_group("nack");
    group.throughput(Throughput::Elements(1));
    let payload = Bytes::from(vec![0u8; 1200]);

    let t0 = Instant::now();
    let mut cache = RetransmitCache::new(CacheConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut seq = 0u16;
    let mut now = t0;
    // Fill to steady state first: age eviction and ring reuse both active.
    for _ in 0..2000 {
        let packet = Packet {
            seq,
            timestamp: 0,
            payload: payload.clone(),
        };
        cache.insert(now, seq, packet, 1200);
        seq = seq.wrapping_add(1);
        now += PACKET_INTERVAL;
    }
    group.bench_function("cache_insert_lookup", |b| {
        b.iter(|| {
            let packet = Packet {
                seq,
                timestamp: 90_000,
                payload: payload.clone(),
            };
            cache.insert(now, seq, packet, 1200);
            let found = cache
                .get(now, seq.wrapping_sub(100))
                .map(|p| (p.timestamp, p.payload.len()));
            black_box(found);
            seq = seq.wrapping_add(1);
            now += PACKET_INTERVAL;
        });
    });

    let mut map: HashMap<u16, Packet> = HashMap::with_capacity(1024);
    let mut seq = 0u16;
    group.bench_function("baseline_hashmap_insert_lookup", |b| {
        b.iter(|| {
            let packet = Packet {
                seq,
                timestamp: 90_000,
                payload: payload.clone(),
            };
            map.insert(seq, packet);
            map.remove(&seq.wrapping_sub(512));
            let found = map
                .get(&seq.wrapping_sub(100))
                .map(|p| (p.seq, p.payload.len()));
            black_box(found);
            seq = seq.wrapping_add(1);
        });
    });
    group.finish();
}

fn detector(c: &mut Criterion) {
    let mut group = c.benchmark_group("nack");
    group.throughput(Throughput::Elements(1));

    // One full cycle of the 16-bit space: every 100th packet is lost and its
    // repair arrives 20 packets later.
    let mut trace: Vec<u16> = Vec::with_capacity(1 << 16);
    let mut repairs: Vec<(usize, u16)> = Vec::new();
    for seq in 0..=u16::MAX {
        if seq % 100 == 50 {
            repairs.push((usize::from(seq) + 20, seq));
        } else {
            trace.push(seq);
        }
        while let Some(&(at, repaired)) = repairs.first() {
            if at > usize::from(seq) {
                break;
            }
            trace.push(repaired);
            repairs.remove(0);
        }
    }
    trace.extend(repairs.iter().map(|&(_, s)| s));

    let t0 = Instant::now();
    let mut detector =
        LossDetector::new(DetectorConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    detector.set_rtt(Duration::from_millis(40));
    let mut i = 0usize;
    let mut now = t0;
    let mut nacks = 0u64;
    group.bench_function("detector_per_packet", |b| {
        b.iter(|| {
            let seq = trace.get(i).copied().unwrap_or_default();
            black_box(detector.handle_packet(now, seq));
            while let Some(pair) = detector.poll_nack(now) {
                nacks += pair.len() as u64;
            }
            black_box(detector.poll_timeout());
            i = (i + 1) % trace.len();
            now += PACKET_INTERVAL;
        });
    });
    black_box(nacks);

    let mut unwrapper = SeqUnwrapper::new();
    let mut i = 0usize;
    group.bench_function("baseline_seq_unwrap", |b| {
        b.iter(|| {
            let seq = trace.get(i).copied().unwrap_or_default();
            black_box(unwrapper.extend(seq));
            i = (i + 1) % trace.len();
        });
    });
    group.finish();
}

criterion_group!(benches, cache, detector);
criterion_main!(benches);
