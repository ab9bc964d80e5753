//! With the NACK shield installed, the publisher path (detector, cache
//! insert, fan-out) still allocates nothing per packet in the steady state:
//! 1 000 packets to 10 subscribers, counted by a global allocator, after
//! the retransmission cache has filled and started reusing its slots.
#![allow(unsafe_code)]

mod shield_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use bytes::Bytes;
use shield_common::{MEDIA_SSRC, ShieldCall};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: defers every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    for p in packets {
        call.advance(Duration::from_millis(2));
        call.router
            .handle_rtp(call.now, call.publisher, p.clone())
            .unwrap();
        if call.router.poll_timeout().is_some_and(|t| t <= call.now) {
            // Timers (the router's once-a-second receiver reports) are not
            // the per-packet path; they are not counted.
            COUNTING.with(|c| c.set(false));
            call.router.handle_timeout(call.now);
            COUNTING.with(|c| c.set(true));
        }
        while let Some(out) = call.router.poll_output() {
            if let sfu_core::Output::Rtp { packet, .. } = out {
                forwarded += usize::from(packet.write_to(&mut buf).unwrap() > 0);
            }
        }
    }
    COUNTING.with(|c| c.set(false));
    (ALLOCATIONS.with(Cell::get), forwarded)
}

#[test]
fn the_counter_counts() {
    COUNTING.with(|c| c.set(true));
    ALLOCATIONS.with(|a| a.set(0));
    let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(64));
    COUNTING.with(|c| c.set(false));
    drop(v);
    assert_eq!(ALLOCATIONS.with(Cell::get), 1);
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
