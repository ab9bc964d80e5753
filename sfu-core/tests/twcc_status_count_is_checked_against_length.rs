//! A transport-cc feedback whose packet status count is larger than its
//! status chunks and receive deltas can hold is refused before anything is
//! allocated from that count (issue 10, item 4); legitimate feedback, from
//! the router's own writer or from rtc-rtcp's, is still accepted. The other
//! count fields rtc-rtcp reads (report counts, BYE source count, REMB SSRC
//! count, SDES chunk count) are held to their lengths the same way.
// The byte-counting global allocator below is the only way to observe how
// much the parser allocates.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use bytes::Bytes;
use rtc_rtcp::transport_feedbacks::transport_layer_cc::{
    PacketStatusChunk, RecvDelta, RunLengthChunk, StatusChunkTypeTcc, StatusVectorChunk,
    SymbolSizeTypeTcc, SymbolTypeTcc, TransportLayerCc,
};
use sfu_core::{Error, Output};

/// The system allocator, counting the bytes the current thread asks for
/// while counting is on.
struct CountingBytes;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

fn note(bytes: usize) {
    // `try_with`: the allocator may run while thread locals are torn down.
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            let _ = BYTES.try_with(|b| b.set(b.get() + bytes));
        }
    });
}

// SAFETY: defers every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for CountingBytes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingBytes = CountingBytes;

/// Runs `f` and returns its result with the bytes it allocated on this thread.
fn bytes_allocated<T>(f: impl FnOnce() -> T) -> (T, usize) {
    BYTES.with(|b| b.set(0));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, BYTES.with(Cell::get))
}

/// The packet: 40 bytes, packet status count 65 535, and nine
/// run-length chunks of 8 191 "received, small delta" each, which together
/// describe all 65 535 statuses in 18 bytes but leave room for only 2 of
/// the 65 535 receive deltas they promise.
fn hostile_twcc() -> Bytes {
    let mut p = vec![
        0x8F, 205, 0, 9, // V=2, FMT=15, PT=205, length 9 words (40 bytes)
        0, 0, 0xAA, 0xAA, // sender SSRC
        0, 0, 0x01, 0x00, // media SSRC
        0, 0, // base sequence number
        0xFF, 0xFF, // packet status count
        0, 0, 1, 0, // reference time, feedback packet count
    ];
    while p.len() < 40 {
        // T=0 (run length), S=01 (small delta), run length 8191.
        p.extend_from_slice(&[0x3F, 0xFF]);
    }
    assert_eq!(p.len(), 40);
    Bytes::from(p)
}

#[test]
fn the_counter_counts_bytes() {
    let (v, bytes) = bytes_allocated(|| Vec::<u8>::with_capacity(std::hint::black_box(4096)));
    drop(v);
    assert!(bytes >= 4096, "{bytes}");
}

#[test]
fn a_40_byte_twcc_claiming_65535_statuses_is_refused_without_allocating_from_the_count() {
    let mut call = common::Call::new(1);
    let (now, publisher) = (call.now, call.publisher);
    let packet = hostile_twcc();
    let before = call.router.stats().rtcp_malformed;
    let (result, bytes) =
        bytes_allocated(|| call.router.handle_rtcp(now, publisher, packet.clone()));
    assert!(result.is_err(), "{result:?}");
    assert_eq!(call.router.stats().rtcp_malformed, before + 1);
    // 65 535 receive deltas are 1 MiB; refusing from the header walk
    // allocates nothing at all, but the bound leaves room for bookkeeping.
    eprintln!("refused with {bytes} bytes allocated");
    assert!(bytes < 4096, "refusing it allocated {bytes} bytes");
}

#[test]
fn status_chunks_that_run_out_before_the_count_is_covered_are_refused() {
    let mut call = common::Call::new(1);
    let (now, publisher) = (call.now, call.publisher);
    // Count 100, but only one 2-bit vector chunk (7 statuses) and padding.
    let p = Bytes::from_static(&[
        0x8F, 205, 0, 5, 0, 0, 0xAA, 0xAA, 0, 0, 1, 0, 0, 0, 0, 100, 0, 0, 1, 0, 0xC0, 0, 0, 0,
    ]);
    let result = call.router.handle_rtcp(now, publisher, p);
    assert!(
        matches!(result, Err(Error::RtcpCountExceedsLength { .. })),
        "{result:?}"
    );
}

fn marshal(p: &TransportLayerCc) -> Bytes {
    let packets: Vec<Box<dyn rtc_rtcp::packet::Packet>> = vec![Box::new(p.clone())];
    rtc_rtcp::packet::marshal(&packets).unwrap().freeze()
}

#[test]
fn twcc_written_by_rtc_rtcp_is_accepted() {
    let mut call = common::Call::new(1);
    let (now, publisher) = (call.now, call.publisher);
    let run = |symbol, run_length| {
        PacketStatusChunk::RunLengthChunk(RunLengthChunk {
            type_tcc: StatusChunkTypeTcc::RunLengthChunk,
            packet_status_symbol: symbol,
            run_length,
        })
    };
    let vector = |symbol_size, symbol_list| {
        PacketStatusChunk::StatusVectorChunk(StatusVectorChunk {
            type_tcc: StatusChunkTypeTcc::StatusVectorChunk,
            symbol_size,
            symbol_list,
        })
    };
    let small = |us| RecvDelta {
        type_tcc_packet: SymbolTypeTcc::PacketReceivedSmallDelta,
        delta: us,
    };
    let large = |us| RecvDelta {
        type_tcc_packet: SymbolTypeTcc::PacketReceivedLargeDelta,
        delta: us,
    };
    use SymbolTypeTcc::{PacketNotReceived as Lost, PacketReceivedLargeDelta as L};
    use SymbolTypeTcc::{PacketReceivedSmallDelta as S, PacketReceivedWithoutDelta as W};
    let cases = [
        // One run-length chunk covering 8 191 lost packets in 2 bytes: the
        // count alone says nothing about the length.
        TransportLayerCc {
            packet_status_count: 8191,
            packet_chunks: vec![run(Lost, 8191), run(Lost, 0)],
            ..Default::default()
        },
        // A long run of received packets with one small delta each.
        TransportLayerCc {
            packet_status_count: 200,
            packet_chunks: vec![run(S, 200)],
            recv_deltas: (0..200).map(|i| small(i * 250)).collect(),
            ..Default::default()
        },
        // Mixed: 1-bit vector, 2-bit vector with a large delta, run of
        // "received without delta", and a count that ends inside the run.
        TransportLayerCc {
            packet_status_count: 14 + 7 + 5,
            packet_chunks: vec![
                vector(
                    SymbolSizeTypeTcc::OneBit,
                    [
                        S, Lost, S, S, Lost, Lost, Lost, Lost, Lost, Lost, Lost, Lost, Lost, S,
                    ]
                    .to_vec(),
                ),
                vector(
                    SymbolSizeTypeTcc::TwoBit,
                    vec![L, S, Lost, W, Lost, Lost, S],
                ),
                run(W, 100),
            ],
            recv_deltas: vec![
                small(250),
                small(0),
                small(500),
                small(750),
                large(-25_000),
                small(250),
                small(1000),
            ],
            ..Default::default()
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let bytes = marshal(case);
        // rtc-rtcp itself must accept what it wrote, or the case proves nothing.
        let mut b = bytes.clone();
        rtc_rtcp::packet::unmarshal(&mut b).unwrap_or_else(|e| panic!("case {i}: {e}"));
        let result = call.router.handle_rtcp(now, publisher, bytes);
        assert!(result.is_ok(), "case {i}: {result:?}");
    }
}

#[test]
fn twcc_written_by_the_router_is_accepted() {
    let mut call = common::Call::new(1);
    let (mut now, publisher) = (call.now, call.publisher);
    let mut feedback = Vec::new();
    // 300 packets, every fifth lost, some arriving late (large deltas).
    for i in 0..300u16 {
        now += Duration::from_millis(if i % 50 == 0 { 90 } else { 3 });
        if i % 5 == 4 {
            continue;
        }
        let seq = i.to_be_bytes();
        let p = common::rtp(
            0x100,
            96,
            i,
            u32::from(i) * 3000,
            &[(3, &seq)],
            common::VP8_DELTA,
        );
        let _ = call.router.handle_rtp(now, publisher, p);
        call.router.handle_timeout(now);
        while let Some(out) = call.router.poll_output() {
            if let Output::Rtcp { session, packet } = out
                && session == publisher
                && packet.get(1) == Some(&205)
            {
                feedback.push(packet);
            }
        }
    }
    assert!(feedback.len() >= 3, "{} feedback packets", feedback.len());
    for packet in feedback {
        let result = call.router.handle_rtcp(now, publisher, packet.clone());
        assert!(result.is_ok(), "{result:?} for {packet:02x?}");
    }
}

/// An SR (RC=2) of 52 bytes: 28 of header and sender info, one 24-byte
/// report block.
const SR_WITH_ROOM_FOR_ONE_REPORT: [u8; 52] = {
    let mut p = [0u8; 52];
    p[0] = 0x82;
    p[1] = 200;
    p[3] = 12;
    p
};

#[test]
fn other_counts_beyond_their_length_are_refused() {
    let mut call = common::Call::new(1);
    let (now, publisher) = (call.now, call.publisher);
    let refused: [&[u8]; 5] = [
        // RR claiming 31 report blocks in 8 bytes.
        &[0x9F, 201, 0, 1, 0, 0, 0, 1],
        // SR claiming 2 report blocks with room for one.
        &SR_WITH_ROOM_FOR_ONE_REPORT,
        // BYE with 31 sources in 8 bytes.
        &[0x9F, 203, 0, 1, 0, 0, 0, 1],
        // REMB announcing 255 SSRCs with room for one.
        &[
            0x8F, 206, 0, 5, 0, 0, 0, 9, 0, 0, 0, 0, b'R', b'E', b'M', b'B', 255, 0, 1, 0, 0, 0, 1,
            0,
        ],
        // SDES with 31 chunks in 12 bytes.
        &[0x9F, 202, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0],
    ];
    for p in refused {
        let result = call
            .router
            .handle_rtcp(now, publisher, Bytes::from_static(p));
        assert!(
            matches!(result, Err(Error::RtcpCountExceedsLength { .. })),
            "{result:?} for {p:02x?}"
        );
    }
}
