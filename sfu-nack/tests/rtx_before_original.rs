//! A repair that arrives as RTX before the original fills the gap; the
//! original is then a duplicate, and neither is ever NACKed again.

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use sfu_nack::{
    Arrival, DetectorConfig, Error, LossDetector, parse_rtx_payload, split_rtx_payload,
    write_rtx_payload,
};

const MS: Duration = Duration::from_millis(1);

fn rtx(osn: u16, original: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(64);
    write_rtx_payload(osn, original, &mut buf).unwrap();
    buf.freeze()
}

#[test]
fn rtx_fills_the_gap_and_the_late_original_is_a_duplicate() {
    let t0 = Instant::now();
    let mut detector = LossDetector::new(DetectorConfig::default()).unwrap();
    detector.handle_packet(t0, 100);
    detector.handle_packet(t0, 102);
    let pair = detector.poll_nack(t0 + 5 * MS).unwrap();
    assert_eq!(pair.pid, 101);

    let (osn, payload) = split_rtx_payload(&rtx(101, b"frame")).unwrap();
    assert_eq!((osn, &payload[..]), (101, &b"frame"[..]));
    assert_eq!(
        detector.handle_packet(t0 + 30 * MS, osn),
        Arrival::Filled { after_nack: true }
    );
    assert_eq!(
        detector.handle_packet(t0 + 31 * MS, 101),
        Arrival::Duplicate
    );
    // Nothing is missing, so no retry ever comes.
    assert_eq!(detector.poll_timeout(), None);
    assert_eq!(detector.poll_nack(t0 + 2000 * MS), None);
    assert_eq!(detector.stats().recovered, 1);
    assert_eq!(detector.stats().duplicates, 1);
}

#[test]
fn rtx_ahead_of_the_stream_counts_as_received() {
    let t0 = Instant::now();
    let mut detector = LossDetector::new(DetectorConfig::default()).unwrap();
    detector.handle_packet(t0, 7);
    // The sender retransmits 9 before the original 8 and 9 arrive.
    assert_eq!(detector.handle_packet(t0, 9), Arrival::Gap { missing: 1 });
    assert_eq!(detector.handle_packet(t0 + MS, 9), Arrival::Duplicate);
    assert_eq!(
        detector.handle_packet(t0 + MS, 8),
        Arrival::Filled { after_nack: false }
    );
    assert_eq!(detector.poll_nack(t0 + 100 * MS), None);
}

#[test]
fn rtx_payload_errors_are_typed() {
    assert_eq!(
        parse_rtx_payload(&[0x12]),
        Err(Error::RtxPayloadTooShort { len: 1 })
    );
    assert_eq!(parse_rtx_payload(&[0x12, 0x34]), Ok((0x1234, &[][..])));
    let mut small = [0u8; 4];
    let mut out = &mut small[..];
    assert_eq!(
        write_rtx_payload(1, b"abc", &mut out),
        Err(Error::RtxBufferTooSmall {
            needed: 5,
            available: 4
        })
    );
    let mut exact = [0u8; 5];
    let mut out = &mut exact[..];
    assert_eq!(write_rtx_payload(0xabcd, b"xyz", &mut out), Ok(5));
    assert_eq!(exact, [0xab, 0xcd, b'x', b'y', b'z']);
}
