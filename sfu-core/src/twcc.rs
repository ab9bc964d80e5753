//! Transport-wide congestion control feedback (draft-holmer-rmcat-
//! transport-wide-cc-extensions-01) toward publishers. Browsers estimate
//! their send bandwidth from it; without it a simulcast publisher never
//! ramps up past its lowest layers. The router records when each packet's
//! transport-wide sequence number arrived and reports them every interval.

use std::collections::VecDeque;

use bytes::Bytes;
use rtc_rtcp::transport_feedbacks::transport_layer_cc::{
    PacketStatusChunk, RecvDelta, StatusChunkTypeTcc, StatusVectorChunk, SymbolSizeTypeTcc,
    SymbolTypeTcc, TransportLayerCc,
};
use sfu_nack::SeqUnwrapper;

/// Arrivals remembered between two reports; more than a report interval's
/// worth at any bitrate a browser sends.
const MAX_ARRIVALS: usize = 2048;
/// Sequence numbers one report may cover.
const MAX_SPAN: u64 = 1024;
/// Receive deltas are in units of 250 µs; the reference time in 64 ms.
const TICK_US: i64 = 250;
const TICKS_PER_REFERENCE: i64 = 256;

/// What one session's packets told us about their transport-wide numbers.
#[derive(Debug, Default)]
pub(crate) struct TwccRecorder {
    unwrap: SeqUnwrapper,
    /// (extended sequence number, arrival in µs since the router's epoch),
    /// in arrival order.
    arrivals: VecDeque<(u64, i64)>,
    next_unreported: Option<u64>,
    feedback_count: u8,
    media_ssrc: u32,
}

impl TwccRecorder {
    pub fn on_packet(&mut self, seq: u16, arrival_us: i64, media_ssrc: u32) {
        let ext = self.unwrap.extend(seq);
        if self.next_unreported.is_some_and(|n| ext < n) {
            // Already reported (as lost, or a duplicate): too late to matter.
            return;
        }
        if self.arrivals.capacity() == 0 {
            // Once per publishing session, so the hot path never grows it.
            self.arrivals.reserve_exact(MAX_ARRIVALS);
        }
        if self.arrivals.len() >= MAX_ARRIVALS {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back((ext, arrival_us));
        self.media_ssrc = media_ssrc;
    }

    /// The feedback packet for everything received since the last one.
    pub fn report(&mut self, sender_ssrc: u32) -> Option<Bytes> {
        let highest = self.arrivals.iter().map(|(s, _)| *s).max()?;
        let lowest = self.arrivals.iter().map(|(s, _)| *s).min()?;
        let base = self
            .next_unreported
            .unwrap_or(lowest)
            .max(lowest)
            .max(highest.saturating_sub(MAX_SPAN - 1));
        let mut received: Vec<(u64, i64)> = self
            .arrivals
            .iter()
            .copied()
            .filter(|(s, _)| *s >= base)
            .collect();
        received.sort_unstable_by_key(|(s, _)| *s);
        received.dedup_by_key(|(s, _)| *s);
        self.arrivals.clear();
        self.next_unreported = Some(highest + 1);
        let first_arrival = received.first()?.1;
        let reference = first_arrival.div_euclid(TICK_US * TICKS_PER_REFERENCE);
        let mut last_ticks = reference * TICKS_PER_REFERENCE;
        let count = (highest - base + 1) as usize;
        let mut symbols = Vec::with_capacity(count);
        let mut deltas = Vec::with_capacity(received.len());
        let mut next = received.iter().peekable();
        for seq in base..=highest {
            match next.peek() {
                Some((s, arrival)) if *s == seq => {
                    let ticks = arrival.div_euclid(TICK_US);
                    let delta =
                        (ticks - last_ticks).clamp(i64::from(i16::MIN), i64::from(i16::MAX));
                    last_ticks += delta;
                    let symbol = if (0..=255).contains(&delta) {
                        SymbolTypeTcc::PacketReceivedSmallDelta
                    } else {
                        SymbolTypeTcc::PacketReceivedLargeDelta
                    };
                    symbols.push(symbol);
                    deltas.push(RecvDelta {
                        type_tcc_packet: symbol,
                        delta: delta * TICK_US,
                    });
                    next.next();
                }
                _ => symbols.push(SymbolTypeTcc::PacketNotReceived),
            }
        }
        // Two-bit status vectors: seven symbols a chunk, the last one padded
        // with "not received" past the packet count (receivers stop there).
        let chunks = symbols
            .chunks(7)
            .map(|c| {
                let mut list = c.to_vec();
                list.resize(7, SymbolTypeTcc::PacketNotReceived);
                PacketStatusChunk::StatusVectorChunk(StatusVectorChunk {
                    type_tcc: StatusChunkTypeTcc::StatusVectorChunk,
                    symbol_size: SymbolSizeTypeTcc::TwoBit,
                    symbol_list: list,
                })
            })
            .collect();
        let packet = TransportLayerCc {
            sender_ssrc,
            media_ssrc: self.media_ssrc,
            base_sequence_number: base as u16,
            packet_status_count: count as u16,
            reference_time: (reference & 0xFF_FFFF) as u32,
            fb_pkt_count: self.feedback_count,
            packet_chunks: chunks,
            recv_deltas: deltas,
        };
        self.feedback_count = self.feedback_count.wrapping_add(1);
        Some(crate::rtcp::marshal(&packet)).filter(|b| !b.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &Bytes) -> TransportLayerCc {
        let mut buf = b.clone();
        let packets = rtc_rtcp::packet::unmarshal(&mut buf).unwrap();
        packets[0]
            .as_any()
            .downcast_ref::<TransportLayerCc>()
            .unwrap()
            .clone()
    }

    #[test]
    fn reports_arrivals_and_losses_in_order() {
        let mut r = TwccRecorder::default();
        // 65534, 65535, (0 lost), 1 — across the wrap.
        r.on_packet(65534, 1_000_000, 7);
        r.on_packet(65535, 1_000_500, 7);
        r.on_packet(1, 1_090_000, 7);
        let fb = parse(&r.report(99).unwrap());
        assert_eq!(fb.sender_ssrc, 99);
        assert_eq!(fb.base_sequence_number, 65534);
        assert_eq!(fb.packet_status_count, 4);
        assert_eq!(fb.reference_time, 1_000_000 / 64_000);
        assert_eq!(fb.recv_deltas.len(), 3);
        // 1_000_000 µs is 15 reference units (960 ms) + 40 ms.
        assert_eq!(fb.recv_deltas[0].delta, 40_000);
        assert_eq!(fb.recv_deltas[1].delta, 500);
        assert_eq!(fb.recv_deltas[2].delta, 89_500);
        assert_eq!(
            fb.recv_deltas[2].type_tcc_packet,
            SymbolTypeTcc::PacketReceivedLargeDelta
        );
        // The next report starts after what was reported.
        r.on_packet(2, 1_100_000, 7);
        let fb = parse(&r.report(99).unwrap());
        assert_eq!(
            (
                fb.base_sequence_number,
                fb.packet_status_count,
                fb.fb_pkt_count
            ),
            (2, 1, 1)
        );
    }

    #[test]
    fn nothing_received_means_no_report() {
        assert!(TwccRecorder::default().report(1).is_none());
    }
}
