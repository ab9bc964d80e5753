//! With the NACK shield installed, the publisher path (detector, cache
//! insert, fan-out) still allocates nothing per packet in the steady state:
//! 1 000 packets to 10 subscribers, counted by a global allocator, after
//! the retransmission cache has filled and started reusing its slots.

mod shield_common;

use std::time::Duration;

use bytes::Bytes;
use shield_common::{MEDIA_SSRC, ShieldCall};

#[global_allocator]
static GLOBAL: sfu_testkit::alloc::Counting = sfu_testkit::alloc::Counting;

fn inputs(first_seq: u16, n: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| {
            let seq = first_seq.wrapping_add(i as u16);
            let mut payload = ShieldCall::payload(seq, seq == 0);
            payload.resize(1000, 7);
            let p = shield_common::rtp(MEDIA_SSRC, 96, seq, u32::from(seq) * 3000, &payload);
            // As a transport hands them over: already shared (the first
            // clone of a `Vec`-backed `Bytes` allocates its shared header).
            drop(p.clone());
            p
        })
        .collect()
}

/// Feeds `packets` 2 ms apart; returns (allocations, packets forwarded).
fn run(call: &mut ShieldCall, packets: &[Bytes]) -> (usize, usize) {
    let mut forwarded = 0;
    let mut buf = [0u8; 1500];
    let ((), allocations) = sfu_testkit::alloc::count(|| {
        for p in packets {
            call.advance(Duration::from_millis(2));
            call.router
                .handle_rtp(call.now, call.publisher, p.clone())
                .unwrap();
            if call.router.poll_timeout().is_some_and(|t| t <= call.now) {
                // Timers (the router's once-a-second receiver reports) are
                // not the per-packet path; they are not counted.
                sfu_testkit::alloc::uncounted(|| call.router.handle_timeout(call.now));
            }
            while let Some(out) = call.router.poll_output() {
                if let sfu_core::Output::Rtp { packet, .. } = out {
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
fn shielded_forwarding_of_1000_packets_to_10_subscribers_allocates_nothing() {
    let mut call = ShieldCall::new(&[true; 10]);
    // More than the cache's 512 slots, so the ring is reused while measured.
    let warmup = inputs(0, 700);
    let measured = inputs(700, 1000);
    run(&mut call, &warmup);
    let (allocations, forwarded) = run(&mut call, &measured);
    assert_eq!(forwarded, 10_000);
    assert_eq!(
        allocations, 0,
        "allocations while forwarding {forwarded} packets"
    );
    let stats = call.shield().stats();
    assert_eq!(stats.hop.detector.packets, 1700);
    // One second of packets at 2 ms, both ends of the age bound included.
    assert_eq!(stats.hop.cache_packets, 501);
}
