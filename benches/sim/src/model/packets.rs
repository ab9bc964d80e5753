//! The bytes the simulated endpoints send and read: RTP and RTCP built with
//! the test kit, and the few fields the metrics read back.

use std::time::Duration;

use bytes::Bytes;
use sfu_nack::NackPair;
use sfu_testkit::rtp::{ReportBlock, Rtcp, Rtp};

/// An RTP packet without extensions (the simulated endpoints negotiate none).
pub(crate) fn rtp_bytes(
    ssrc: u32,
    pt: u8,
    seq: u16,
    ts: u32,
    marker: bool,
    payload: Bytes,
) -> Bytes {
    Rtp::new(ssrc, pt, seq, ts)
        .marker(marker)
        .payload(&payload)
        .bytes()
}

/// The publisher's packet number, carried at payload bytes 2..6.
pub(crate) fn id_in_payload(payload: &[u8]) -> Option<u32> {
    payload
        .get(2..6)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A generic NACK with these FCI entries.
pub(crate) fn nack_rtcp(sender: u32, media: u32, pairs: &[NackPair]) -> Bytes {
    let pairs: Vec<(u16, u16)> = pairs.iter().map(|p| (p.pid, p.blp)).collect();
    Rtcp::new().nack(sender, media, &pairs).bytes()
}

pub(crate) fn ntp_at(t: Duration) -> u64 {
    ((3_900_000_000u64 + t.as_secs()) << 32) | ((u64::from(t.subsec_nanos()) << 32) / 1_000_000_000)
}

pub(crate) fn q16(d: Duration) -> u32 {
    ((d.as_nanos() << 16) / 1_000_000_000) as u32
}

pub(crate) fn from_q16(v: u32) -> Duration {
    Duration::from_nanos((u64::from(v) * 1_000_000_000) >> 16)
}

/// Receiver report blocks: (ssrc, highest ext seq, LSR, DLSR).
pub(crate) fn receiver_report(sender: u32, blocks: &[(u32, u32, u32, u32)]) -> Bytes {
    let blocks: Vec<ReportBlock> = blocks
        .iter()
        .map(|&(ssrc, highest_seq, lsr, dlsr)| ReportBlock {
            highest_seq,
            lsr,
            dlsr,
            ..ReportBlock::new(ssrc)
        })
        .collect();
    Rtcp::new().rr(sender, &blocks).bytes()
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
}

/// Report blocks of an SR/RR body, as (ssrc, LSR, DLSR).
pub(crate) fn report_blocks(body: &[u8], count: u8, offset: usize) -> Vec<(u32, u32, u32)> {
    (0..usize::from(count))
        .map(|k| offset + 24 * k)
        .filter(|&at| body.len() >= at + 24)
        .map(|at| (be32(body, at), be32(body, at + 16), be32(body, at + 20)))
        .collect()
}
