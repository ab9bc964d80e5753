//! The figures of one run and their JSON line.

use sfu_core::ShieldStats;

use super::TreeOptions;
use crate::model::json::{self, num};

/// Figures of one run; see the module documentation for definitions.
#[derive(Debug, Clone, Default)]
pub struct TreeReport {
    /// The seed it ran with.
    pub seed: u64,
    /// Media packets the publisher sent after the warm-up.
    pub media_packets: u64,
    /// (media packet, viewer) pairs delivered within 250 ms ÷ all pairs.
    pub delivered_within_deadline: f64,
    /// Pairs delivered at all ÷ all pairs.
    pub delivered_eventually: f64,
    /// `delivered_within_deadline` of the viewers on nodes at each depth
    /// (index 0: the origin's own viewers).
    pub delivered_within_deadline_by_depth: Vec<f64>,
    /// Publisher-to-viewer latency of delivered pairs, median (ms).
    pub latency_ms_p50: f64,
    /// … 99th percentile (ms).
    pub latency_ms_p99: f64,
    /// … 99.9th percentile (ms).
    pub latency_ms_p999: f64,
    /// Originals lost on publisher → origin (whole run).
    pub publisher_losses: u64,
    /// Distinct sequence numbers NACKs asked of the publisher.
    pub publisher_nacked_distinct: u64,
    /// Every NACKed sequence number reaching the publisher, repeats
    /// included.
    pub publisher_nack_requests: u64,
    /// `publisher_nacked_distinct` ÷ `publisher_losses`.
    pub publisher_nacks_per_publisher_loss: f64,
    /// `publisher_nack_requests` ÷ `publisher_losses`.
    pub publisher_nack_requests_per_publisher_loss: f64,
    /// RTP bytes of the publisher's original media packets (whole run).
    pub stream_bytes: u64,
    /// The publisher's original media packets (whole run).
    pub stream_packets: u64,
    /// RTP bytes the origin sent on relay links (originals and RTX).
    pub origin_relay_bytes: u64,
    /// RTP packets the origin sent on relay links.
    pub origin_relay_packets: u64,
    /// `origin_relay_bytes` ÷ `stream_bytes`: copies of the stream.
    pub origin_relay_copies: f64,
    /// The same for packets that are not retransmissions.
    pub origin_relay_media_copies: f64,
    /// RTX bytes the origin sent on relay links ÷ `stream_bytes`.
    pub origin_relay_retransmission_overhead: f64,
    /// Of `origin_relay_retransmission_overhead`, the RTX bytes of packets
    /// a copy of which the same relay link had already carried (delivered
    /// or in flight) ÷ `stream_bytes`.
    pub origin_relay_needless_retransmissions: f64,
    /// RTX packets all nodes sent on relay links.
    pub relay_retransmissions: u64,
    /// Of those, packets a copy of which the same link had already carried.
    pub relay_needless_retransmissions: u64,
    /// `origin_relay_packets` ÷ `stream_packets`.
    pub origin_relay_packet_copies: f64,
    /// RTCP bytes the origin sent on relay links.
    pub origin_relay_rtcp_bytes: u64,
    /// Per node: relay links to children.
    pub relay_children: Vec<usize>,
    /// The most relay children of one node.
    pub relay_children_max: usize,
    /// Per node: RTP bytes it sent on relay links that were not
    /// retransmissions ÷ `stream_bytes` (copies of the stream).
    pub relay_copies: Vec<f64>,
    /// Per node: RTX bytes it sent on relay links ÷ `stream_bytes`.
    pub relay_retransmission_overhead: Vec<f64>,
    /// The largest of `relay_copies`.
    pub relay_copies_max: f64,
    /// Per node: its parent in the video track's tree (`None`: the origin).
    pub parents: Vec<Option<usize>>,
    /// Hops from the origin to the deepest node.
    pub depth: usize,
    /// PLIs and FIRs that reached the publisher.
    pub keyframe_requests: u64,
    /// `keyframe_requests` ÷ seconds of media.
    pub keyframe_requests_per_second: f64,
    /// NACKed sequence numbers the viewers sent.
    pub viewer_nacks: u64,
    /// RTP packets viewers received that they already had.
    pub viewer_duplicates: u64,
    /// Per node: when it first sent one of its viewers a video packet (ms;
    /// `None`: never). A node whose first packet of the stream — the
    /// start of a keyframe — is lost cannot NACK it and waits for a new
    /// keyframe.
    pub first_video_ms: Vec<Option<f64>>,
    /// Per node: NACKed sequence numbers its shield sent upstream.
    pub upstream_nacks: Vec<u64>,
    /// The shields' counters summed over the nodes.
    pub shield: ShieldStats,
    /// Mean RTT per kind of hop from RTCP: publisher ↔ origin (the
    /// publisher's), node ↔ node (the parents'), node ↔ viewer (the nodes').
    pub rtt_ms_by_hop: [f64; 3],
}

impl TreeReport {
    /// The report as one line of JSON.
    pub fn to_json(&self, o: &TreeOptions) -> String {
        let nums = |v: &[f64]| v.iter().map(|x| num(*x)).collect::<Vec<_>>();
        let mut shield = json::shield(&self.shield);
        if let Some(fields) = shield.as_object_mut() {
            let refused = self.shield.streams_refused + self.shield.streams_refused_per_session;
            fields.insert("streams_refused".into(), refused.into());
        }
        let mut json = serde_json::json!({
            "seed": o.seed,
            "seconds": o.seconds,
            "loss": o.loss,
            "nodes": o.nodes,
            "viewers": o.viewers,
            "fanout": o.fanout,
            "media_packets": self.media_packets,
            "delivered_within_deadline": num(self.delivered_within_deadline),
            "delivered_eventually": num(self.delivered_eventually),
            "delivered_within_deadline_by_depth": nums(&self.delivered_within_deadline_by_depth),
            "latency_ms_p50": num(self.latency_ms_p50),
            "latency_ms_p99": num(self.latency_ms_p99),
            "latency_ms_p999": num(self.latency_ms_p999),
            "publisher_losses": self.publisher_losses,
            "publisher_nacked_distinct": self.publisher_nacked_distinct,
            "publisher_nack_requests": self.publisher_nack_requests,
            "publisher_nacks_per_publisher_loss": num(self.publisher_nacks_per_publisher_loss),
            "publisher_nack_requests_per_publisher_loss":
                num(self.publisher_nack_requests_per_publisher_loss),
            "stream_bytes": self.stream_bytes,
            "stream_packets": self.stream_packets,
            "origin_relay_bytes": self.origin_relay_bytes,
            "origin_relay_packets": self.origin_relay_packets,
            "origin_relay_copies": num(self.origin_relay_copies),
            "origin_relay_media_copies": num(self.origin_relay_media_copies),
            "origin_relay_retransmission_overhead":
                num(self.origin_relay_retransmission_overhead),
            "origin_relay_needless_retransmissions":
                num(self.origin_relay_needless_retransmissions),
            "relay_retransmissions": self.relay_retransmissions,
            "relay_needless_retransmissions": self.relay_needless_retransmissions,
            "origin_relay_packet_copies": num(self.origin_relay_packet_copies),
            "origin_relay_rtcp_bytes": self.origin_relay_rtcp_bytes,
        });
        let tree = serde_json::json!({
            "relay_children": self.relay_children,
            "relay_children_max": self.relay_children_max,
            "relay_copies": nums(&self.relay_copies),
            "relay_copies_max": num(self.relay_copies_max),
            "relay_retransmission_overhead": nums(&self.relay_retransmission_overhead),
            "parents": self.parents,
            "depth": self.depth,
            "keyframe_requests": self.keyframe_requests,
            "keyframe_requests_per_second": num(self.keyframe_requests_per_second),
            "viewer_nacks": self.viewer_nacks,
            "viewer_duplicates": self.viewer_duplicates,
            "first_video_ms": self.first_video_ms.iter().map(|t| t.map_or(serde_json::Value::Null, num)).collect::<Vec<_>>(),
            "upstream_nacks": self.upstream_nacks,
            "rtt_ms_publisher_hop": num(self.rtt_ms_by_hop[0]),
            "rtt_ms_relay_hop": num(self.rtt_ms_by_hop[1]),
            "rtt_ms_viewer_hop": num(self.rtt_ms_by_hop[2]),
            "shield": shield,
        });
        if let (Some(all), serde_json::Value::Object(more)) = (json.as_object_mut(), tree) {
            all.extend(more);
        }
        json.to_string()
    }
}
