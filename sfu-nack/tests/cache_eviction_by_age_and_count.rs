//! The retransmission cache holds at most `max_packets` newest packets, none
//! older than `max_age`, and its byte gauge follows what it holds.

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_nack::{CacheConfig, CacheInsert, Error, RetransmitCache};

const MS: Duration = Duration::from_millis(1);

fn cache(max_packets: usize, max_age: Duration) -> RetransmitCache<Bytes> {
    RetransmitCache::new(
        CacheConfig::default()
            .with_max_packets(max_packets)
            .with_max_age(max_age),
    )
    .unwrap()
}

#[test]
fn count_bound_keeps_only_the_newest() {
    let t0 = Instant::now();
    let mut cache = cache(64, Duration::from_secs(10));
    for seq in 0..200u16 {
        cache.insert(t0, seq, Bytes::from_static(&[0; 100]), 100);
    }
    assert_eq!(cache.len(), 64);
    assert_eq!(cache.bytes(), 6400);
    assert!(cache.get(t0, 135).is_none());
    assert!(cache.get(t0, 136).is_some());
    assert!(cache.get(t0, 199).is_some());
    assert_eq!(cache.insert(t0, 100, Bytes::new(), 1), CacheInsert::TooOld);
    assert_eq!(
        cache.insert(t0, 150, Bytes::new(), 1),
        CacheInsert::Duplicate
    );
}

#[test]
fn age_bound_hides_and_then_drops_old_packets() {
    let t0 = Instant::now();
    let mut cache = cache(512, 100 * MS);
    for seq in 0..10u16 {
        cache.insert(
            t0 + MS * u32::from(seq) * 10,
            seq,
            Bytes::from_static(b"x"),
            1,
        );
    }
    assert_eq!(cache.len(), 10);
    // At 150 ms, packets stored before 50 ms are past 100 ms old.
    let now = t0 + 150 * MS;
    assert!(cache.get(now, 4).is_none());
    assert!(cache.get(now, 5).is_some());
    cache.evict_expired(now);
    assert_eq!(cache.len(), 5);
    assert_eq!(cache.bytes(), 5);
    // Much later, everything is gone.
    cache.evict_expired(t0 + 10_000 * MS);
    assert!(cache.is_empty());
    assert_eq!(cache.bytes(), 0);
    assert_eq!(cache.bytes_max(), 10);
}

#[test]
fn inserts_evict_expired_packets_as_they_go() {
    let t0 = Instant::now();
    let mut cache = cache(512, 1000 * MS);
    // 100 packets a second for 5 s: at most ~1 s worth is ever held.
    for i in 0..500u32 {
        cache.insert(t0 + 10 * MS * i, i as u16, Bytes::from_static(b"y"), 1200);
        assert!(cache.len() <= 101, "len {} at {i}", cache.len());
    }
    assert!(cache.bytes_max() <= 101 * 1200);
}

#[test]
fn a_jump_ahead_drops_everything_out_of_the_window() {
    let t0 = Instant::now();
    let mut cache = cache(128, Duration::from_secs(10));
    for seq in 0..100u16 {
        cache.insert(t0, seq, Bytes::new(), 10);
    }
    cache.insert(t0, 20000, Bytes::new(), 10);
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.bytes(), 10);
    assert!(cache.get(t0, 99).is_none());
}

#[test]
fn late_packets_inside_the_window_are_stored() {
    let t0 = Instant::now();
    let mut cache = cache(128, Duration::from_secs(1));
    cache.insert(t0, 10, Bytes::from_static(b"a"), 1);
    cache.insert(t0, 13, Bytes::from_static(b"d"), 1);
    assert!(matches!(
        cache.insert(t0, 11, Bytes::from_static(b"b"), 1),
        CacheInsert::Stored(_)
    ));
    assert_eq!(cache.get(t0, 11).map(|b| &b[..]), Some(&b"b"[..]));
    assert!(cache.get(t0, 12).is_none());
}

#[test]
fn capacity_is_validated() {
    let zero = RetransmitCache::<Bytes>::new(CacheConfig::default().with_max_packets(0));
    assert_eq!(
        zero.err(),
        Some(Error::CacheCapacityOutOfRange { requested: 0 })
    );
    let rounded =
        RetransmitCache::<Bytes>::new(CacheConfig::default().with_max_packets(417)).unwrap();
    assert_eq!(rounded.capacity(), 512);
    // The default holds one second of 4 Mbit/s video in 1200-byte packets.
    assert!(CacheConfig::default().max_packets * 1200 * 8 >= 4_000_000);
}

#[test]
fn a_repair_replaces_an_aged_out_copy() {
    let t0 = Instant::now();
    let mut cache = cache(128, 100 * MS);
    cache.insert(t0, 1, Bytes::from_static(b"old"), 3);
    cache.insert(t0 + 150 * MS, 2, Bytes::from_static(b"new"), 3);
    assert!(cache.get(t0 + 150 * MS, 1).is_none());
    assert!(matches!(
        cache.insert(t0 + 160 * MS, 1, Bytes::from_static(b"again"), 5),
        CacheInsert::Stored(_)
    ));
    assert_eq!(
        cache.get(t0 + 160 * MS, 1).map(|b| &b[..]),
        Some(&b"again"[..])
    );
    assert_eq!(cache.bytes(), 8);
}
