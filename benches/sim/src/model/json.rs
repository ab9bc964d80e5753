//! The pieces of the reports' JSON lines both simulations write alike.

use serde_json::{Value, json};
use sfu_core::ShieldStats;

/// A figure rounded to four decimals; `null` when not finite (nothing to
/// measure).
pub(crate) fn num(x: f64) -> Value {
    if x.is_finite() {
        json!((x * 10_000.0).round() / 10_000.0)
    } else {
        Value::Null
    }
}

/// A shield's counters (one node's, or a sum).
pub(crate) fn shield(s: &ShieldStats) -> Value {
    json!({
        "losses_seen": s.hop.detector.losses_seen,
        "nacks_sent": s.hop.detector.nacks_sent,
        "nacks_received": s.hop.responder.nacks_received,
        "cache_hits": s.hop.responder.cache_hits,
        "cache_misses": s.hop.responder.cache_misses,
        "upstream_requests": s.hop.responder.upstream_requests,
        "repairs_sent": s.repairs_sent,
        "repairs_forwarded": s.repairs_forwarded,
        "duplicates_dropped": s.duplicates_dropped,
        "gave_ups": s.hop.detector.gave_ups,
        "cache_bytes_max": s.hop.cache_bytes_max,
    })
}
