//! The figures of one run and their JSON line.

use sfu_core::ShieldStats;

use super::SimOptions;
use crate::model::json::{self, num};

/// Figures of one run; see the module documentation for definitions.
#[derive(Debug, Clone, Default)]
pub struct SimReport {
    /// The seed it ran with.
    pub seed: u64,
    /// Media packets the publisher sent after the warm-up.
    pub media_packets: u64,
    /// See the module documentation.
    pub delivered_within_deadline: f64,
    /// Fraction delivered at all (deadline or not).
    pub delivered_eventually: f64,
    /// See the module documentation.
    pub recovery_ms_p50: f64,
    /// See the module documentation.
    pub recovery_ms_p99: f64,
    /// Recovery p50 by the first hop where a copy was lost:
    /// publisher, relay, subscriber (NaN when none).
    pub recovery_ms_p50_by_hop: [f64; 3],
    /// Pairs recovered, by that hop.
    pub recovered_by_hop: [u64; 3],
    /// Pairs that missed the deadline (late or never), by the first hop
    /// where a copy was lost.
    pub missed_by_hop: [u64; 3],
    /// RTT per hop from RTCP reports: publisher, relay, subscriber (mean).
    pub rtt_ms_by_hop: [f64; 3],
    /// Originals lost on publisher → A.
    pub publisher_losses: u64,
    /// Distinct sequence numbers NACKs asked of the publisher.
    pub publisher_nacked_distinct: u64,
    /// Every NACKed sequence number reaching the publisher.
    pub publisher_nack_requests: u64,
    /// See the module documentation.
    pub publisher_nacks_per_publisher_loss: f64,
    /// See the module documentation.
    pub publisher_nack_requests_per_publisher_loss: f64,
    /// Subscriber-hop losses (pairs).
    pub subscriber_hop_losses: u64,
    /// Of those, repaired by B's cache.
    pub subscriber_hop_cache_repairs: u64,
    /// See the module documentation.
    pub repairs_from_nearest_cache: f64,
    /// See the module documentation.
    pub cache_bytes_max: usize,
    /// The shields' counters on A and B (`None` without the shield).
    pub shield_stats: [Option<ShieldStats>; 2],
    /// NACKed sequence numbers the subscribers sent to B.
    pub subscriber_nacks: u64,
}

impl SimReport {
    /// The report as one line of JSON.
    pub fn to_json(&self, o: &SimOptions) -> String {
        let shield =
            |s: &Option<ShieldStats>| s.as_ref().map_or(serde_json::Value::Null, json::shield);
        serde_json::json!({
            "seed": o.seed,
            "seconds": o.seconds,
            "loss": o.loss,
            "burst": o.burst,
            "shield": if o.shield { "on" } else { "off" },
            "subscribers": o.subscribers,
            "media_packets": self.media_packets,
            "delivered_within_deadline": num(self.delivered_within_deadline),
            "delivered_eventually": num(self.delivered_eventually),
            "recovery_ms_p50": num(self.recovery_ms_p50),
            "recovery_ms_p99": num(self.recovery_ms_p99),
            "recovery_ms_p50_publisher_hop": num(self.recovery_ms_p50_by_hop[0]),
            "recovery_ms_p50_relay_hop": num(self.recovery_ms_p50_by_hop[1]),
            "recovery_ms_p50_subscriber_hop": num(self.recovery_ms_p50_by_hop[2]),
            "recovered_by_hop": self.recovered_by_hop,
            "missed_by_hop": self.missed_by_hop,
            "rtt_ms_publisher_hop": num(self.rtt_ms_by_hop[0]),
            "rtt_ms_relay_hop": num(self.rtt_ms_by_hop[1]),
            "rtt_ms_subscriber_hop": num(self.rtt_ms_by_hop[2]),
            "publisher_losses": self.publisher_losses,
            "publisher_nacked_distinct": self.publisher_nacked_distinct,
            "publisher_nack_requests": self.publisher_nack_requests,
            "publisher_nacks_per_publisher_loss": num(self.publisher_nacks_per_publisher_loss),
            "publisher_nack_requests_per_publisher_loss":
                num(self.publisher_nack_requests_per_publisher_loss),
            "subscriber_hop_losses": self.subscriber_hop_losses,
            "repairs_from_nearest_cache": num(self.repairs_from_nearest_cache),
            "subscriber_nacks": self.subscriber_nacks,
            "cache_bytes_max": self.cache_bytes_max,
            "node_a": shield(&self.shield_stats[0]),
            "node_b": shield(&self.shield_stats[1]),
        })
        .to_string()
    }
}
