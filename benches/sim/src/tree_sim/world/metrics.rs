//! The figures of a finished run.

use sfu_core::ShieldStats;

use super::*;
use crate::model::DEADLINE;

fn mean_ms(v: &[Duration]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / v.len() as f64
    }
}

/// The `q` quantile of sorted µs values, in ms.
fn quantile_ms(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

impl World {
    pub(super) fn report(self) -> TreeReport {
        let o = self.o;
        let deadline_us = DEADLINE.as_micros() as u32;
        let depth_of: Vec<usize> = (0..o.nodes)
            .map(|n| self.trees.depth(n, 0).max(self.trees.depth(n, 1)))
            .collect();
        let depth = depth_of.iter().copied().max().unwrap_or(0);
        // Per depth: (pairs, in time); and every delivered pair's latency.
        let mut by_depth = vec![(0u64, 0u64); depth + 1];
        let mut latencies: Vec<u32> = Vec::with_capacity(self.arrivals.len());
        let mut measured = 0u64;
        for (id, &sent) in self.sent_at.iter().enumerate() {
            if sent < WARMUP {
                continue;
            }
            measured += 1;
            let row = &self.arrivals[id * o.viewers..(id + 1) * o.viewers];
            for (v, &late) in row.iter().enumerate() {
                let d = &mut by_depth[depth_of[self.viewer_node[v]]];
                d.0 += 1;
                d.1 += u64::from(late <= deadline_us);
                if late != NEVER {
                    latencies.push(late);
                }
            }
        }
        latencies.sort_unstable();
        let pairs = (measured * o.viewers as u64) as f64;
        let in_time: u64 = by_depth.iter().map(|d| d.1).sum();

        let losses = self.pub_lost.iter().filter(|l| **l).count() as u64;
        let distinct = self.publisher.nacked.len() as u64;
        let stream_packets = self.sent_at.len() as u64;
        let bytes = self.stream_bytes as f64;
        let origin = self.egress[0];
        let relay_bytes = |e: &Egress| e.media.0 + e.rtx.0;
        let relay_copies: Vec<f64> = self
            .egress
            .iter()
            .map(|e| e.media.0 as f64 / bytes)
            .collect();
        let relay_children: Vec<usize> = (0..o.nodes)
            .map(|n| self.relays.iter().filter(|l| l.parent == n).count())
            .collect();

        let mut shield = ShieldStats::default();
        for s in self.nodes.iter().map(|n| n.router.loss_recovery().stats()) {
            shield.hop.merge(&s.hop);
            shield.repairs_sent += s.repairs_sent;
            shield.repairs_forwarded += s.repairs_forwarded;
            shield.duplicates_dropped += s.duplicates_dropped;
            shield.streams_refused += s.streams_refused;
            shield.streams_refused_per_session += s.streams_refused_per_session;
        }
        let relay_rtts: Vec<Duration> = self
            .relays
            .iter()
            .filter_map(|l| self.nodes[l.parent].router.session_rtt(l.relay.up))
            .collect();
        let viewer_rtts: Vec<Duration> = self
            .viewers
            .iter()
            .zip(&self.viewer_node)
            .filter_map(|(v, &n)| self.nodes[n].router.session_rtt(v.session))
            .collect();
        TreeReport {
            seed: o.seed,
            media_packets: measured,
            delivered_within_deadline: in_time as f64 / pairs,
            delivered_eventually: latencies.len() as f64 / pairs,
            delivered_within_deadline_by_depth: by_depth
                .iter()
                .map(|&(n, ok)| ok as f64 / n as f64)
                .collect(),
            latency_ms_p50: quantile_ms(&latencies, 0.5),
            latency_ms_p99: quantile_ms(&latencies, 0.99),
            latency_ms_p999: quantile_ms(&latencies, 0.999),
            publisher_losses: losses,
            publisher_nacked_distinct: distinct,
            publisher_nack_requests: self.publisher.nack_requests,
            publisher_nacks_per_publisher_loss: distinct as f64 / losses as f64,
            publisher_nack_requests_per_publisher_loss: self.publisher.nack_requests as f64
                / losses as f64,
            stream_bytes: self.stream_bytes,
            stream_packets,
            origin_relay_bytes: relay_bytes(&origin),
            origin_relay_packets: origin.media.1 + origin.rtx.1,
            origin_relay_copies: relay_bytes(&origin) as f64 / bytes,
            origin_relay_media_copies: origin.media.0 as f64 / bytes,
            origin_relay_retransmission_overhead: origin.rtx.0 as f64 / bytes,
            origin_relay_needless_retransmissions: origin.needless_rtx.0 as f64 / bytes,
            relay_needless_retransmissions: self.egress.iter().map(|e| e.needless_rtx.1).sum(),
            relay_retransmissions: self.egress.iter().map(|e| e.rtx.1).sum(),
            origin_relay_packet_copies: (origin.media.1 + origin.rtx.1) as f64
                / stream_packets as f64,
            origin_relay_rtcp_bytes: origin.rtcp,
            relay_children_max: relay_children.iter().copied().max().unwrap_or(0),
            relay_children,
            relay_copies_max: relay_copies.iter().copied().fold(0.0, f64::max),
            relay_copies,
            relay_retransmission_overhead: self
                .egress
                .iter()
                .map(|e| e.rtx.0 as f64 / bytes)
                .collect(),
            parents: self.trees.parent.iter().map(|p| p[0]).collect(),
            depth,
            keyframe_requests: self.publisher.keyframe_requests,
            keyframe_requests_per_second: self.publisher.keyframe_requests as f64
                / o.seconds as f64,
            viewer_nacks: self.viewers.iter().map(|v| v.nacks_sent).sum(),
            viewer_duplicates: self.viewer_duplicates,
            first_video_ms: self
                .first_video
                .iter()
                .map(|t| t.map(|t| t.as_secs_f64() * 1000.0))
                .collect(),
            upstream_nacks: self
                .nodes
                .iter()
                .map(|n| n.router.loss_recovery().stats().hop.detector.nacks_sent)
                .collect(),
            shield,
            rtt_ms_by_hop: [
                mean_ms(&self.publisher.rtt_samples),
                mean_ms(&relay_rtts),
                mean_ms(&viewer_rtts),
            ],
        }
    }
}
