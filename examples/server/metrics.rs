//! `/metrics` in Prometheus text format: the node's and driver's counters,
//! and the HTTP side's own.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::StatusCode;
use sfu::net::driver::DriverStats;

/// The HTTP transport's counters.
#[derive(Debug, Default)]
pub struct HttpCounters {
    pub accepted: AtomicU64,
    /// Connections over the limit (answered 503 or closed).
    pub refused: AtomicU64,
    pub accept_errors: AtomicU64,
    pub requests: AtomicU64,
    pub status_2xx: AtomicU64,
    pub status_4xx: AtomicU64,
    pub status_5xx: AtomicU64,
    pub unauthorized: AtomicU64,
    pub rate_limited: AtomicU64,
}

impl HttpCounters {
    pub fn count_status(&self, status: StatusCode) {
        let c = match status.as_u16() {
            401 => {
                self.unauthorized.fetch_add(1, Ordering::Relaxed);
                &self.status_4xx
            }
            429 => {
                self.rate_limited.fetch_add(1, Ordering::Relaxed);
                &self.status_4xx
            }
            200..=399 => &self.status_2xx,
            400..=499 => &self.status_4xx,
            _ => &self.status_5xx,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Gauges the HTTP side knows.
pub struct Gauges {
    pub calls_sessions: usize,
    pub node_sessions: usize,
    /// Meeting channel messages refused (malformed, out of turn, too big).
    pub mls_rejected: u64,
}

/// One metric family: its HELP and TYPE lines, then a sample per label set
/// (`""`: none). Values are counts, or seconds as `f64`.
fn metric<T: std::fmt::Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: &[(&str, T)],
) {
    let _ = writeln!(out, "# HELP sfu_{name} {help}\n# TYPE sfu_{name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "sfu_{name} {value}");
        } else {
            let _ = writeln!(out, "sfu_{name}{{{labels}}} {value}");
        }
    }
}

/// The exposition text.
pub fn render(stats: &DriverStats, gauges: &Gauges, http: &HttpCounters) -> String {
    let (n, e, r) = (&stats.node, &stats.node.endpoint, &stats.node.router);
    let h = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let mut out = String::with_capacity(4096);
    let m = &mut out;
    metric(
        m,
        "sessions",
        "gauge",
        "Live node sessions (clients and relay links).",
        &[("", gauges.node_sessions as u64)],
    );
    metric(
        m,
        "calls_sessions",
        "gauge",
        "Live Calls API sessions.",
        &[("", gauges.calls_sessions as u64)],
    );
    metric(
        m,
        "mls_messages_rejected_total",
        "counter",
        "Meeting channel (MLS broadcast) messages refused: malformed, out of turn, too big.",
        &[("", gauges.mls_rejected)],
    );
    metric(
        m,
        "tracks",
        "gauge",
        "Published tracks (clients' and relay links').",
        &[("", n.tracks as u64)],
    );
    metric(
        m,
        "subscriptions",
        "gauge",
        "Subscriptions, active or waiting for their track.",
        &[("", n.subscriptions as u64)],
    );
    metric(
        m,
        "datagrams_total",
        "counter",
        "UDP datagrams handed to the node (in) and queued by it to send (out), relay links included.",
        &[
            ("direction=\"in\"", n.datagrams_received),
            ("direction=\"out\"", n.datagrams_sent),
        ],
    );
    metric(
        m,
        "bytes_total",
        "counter",
        "UDP payload bytes of those datagrams.",
        &[
            ("direction=\"in\"", n.bytes_received),
            ("direction=\"out\"", n.bytes_sent),
        ],
    );
    metric(
        m,
        "rtp_received_total",
        "counter",
        "RTP packets received from publishers.",
        &[("", r.rtp_received)],
    );
    metric(
        m,
        "rtp_forwarded_total",
        "counter",
        "RTP packets forwarded to subscribers.",
        &[("", r.rtp_forwarded)],
    );
    metric(
        m,
        "rtcp_received_total",
        "counter",
        "RTCP compounds received.",
        &[("", r.rtcp_received)],
    );
    metric(
        m,
        "nacks_received_total",
        "counter",
        "NACKs received from subscribers.",
        &[("", r.nacks_received)],
    );
    metric(
        m,
        "nacks_sent_total",
        "counter",
        "NACKs sent to publishers.",
        &[("", r.nacks_sent)],
    );
    metric(
        m,
        "retransmissions_sent_total",
        "counter",
        "Retransmissions sent.",
        &[("", r.retransmissions_sent)],
    );
    let shield = &stats.node.shield;
    metric(
        m,
        "retransmissions_refused_total",
        "counter",
        "Retransmissions the NACK shield refused a subscriber: the same packet within about an RTT, or past its byte budget.",
        &[
            ("reason=\"repeat\"", shield.hop.responder.repeats_suppressed),
            ("reason=\"budget\"", shield.hop.responder.budget_refused),
        ],
    );
    metric(
        m,
        "shield_streams_refused_total",
        "counter",
        "Packets of streams the NACK shield could not take on (node-wide or per-session capacity), forwarded without repair.",
        &[
            ("scope=\"node\"", shield.streams_refused),
            ("scope=\"session\"", shield.streams_refused_per_session),
        ],
    );
    metric(
        m,
        "keyframe_requests_total",
        "counter",
        "Keyframe requests (PLI/FIR) by direction.",
        &[
            ("direction=\"received\"", r.keyframe_requests_received),
            ("direction=\"sent\"", r.keyframe_requests_sent),
            ("direction=\"suppressed\"", r.keyframe_requests_suppressed),
        ],
    );
    metric(
        m,
        "dropped_total",
        "counter",
        "Packets dropped, by reason.",
        &[
            ("reason=\"unknown_kind\"", e.unknown_kind),
            ("reason=\"stun_malformed\"", e.stun_malformed),
            (
                "reason=\"stun_not_binding_request\"",
                e.stun_not_binding_request,
            ),
            ("reason=\"stun_unknown_ufrag\"", e.stun_unknown_ufrag),
            ("reason=\"stun_bad_fingerprint\"", e.stun_bad_fingerprint),
            ("reason=\"stun_bad_integrity\"", e.stun_bad_integrity),
            (
                "reason=\"stun_wrong_remote_ufrag\"",
                e.stun_wrong_remote_ufrag,
            ),
            ("reason=\"stun_replayed\"", e.stun_replayed),
            (
                "reason=\"stun_check_rate_exceeded\"",
                e.stun_check_rate_exceeded,
            ),
            ("reason=\"dtls_unknown_source\"", e.dtls_unknown_source),
            ("reason=\"dtls_application_data\"", e.dtls_application_data),
            ("reason=\"dtls_record_refused\"", e.dtls_records_dropped),
            ("reason=\"media_unknown_source\"", e.media_unknown_source),
            ("reason=\"media_before_keys\"", e.media_before_keys),
            ("reason=\"srtp_malformed\"", e.srtp_malformed),
            (
                "reason=\"srtp_ssrc_not_negotiated\"",
                e.srtp_ssrc_not_negotiated,
            ),
            ("reason=\"srtp_replayed\"", e.srtp_replayed),
            ("reason=\"srtp_auth_failed\"", e.srtp_auth_failed),
            (
                "reason=\"srtp_learning_budget_spent\"",
                e.srtp_learning_budget_spent,
            ),
            ("reason=\"rtp_malformed\"", r.rtp_malformed),
            ("reason=\"rtp_unknown_ssrc\"", r.rtp_unknown_ssrc),
            (
                "reason=\"rtp_unknown_payload_type\"",
                r.rtp_unknown_payload_type,
            ),
            ("reason=\"rtcp_malformed\"", r.rtcp_malformed),
            ("reason=\"relay\"", stats.node.relay_dropped),
            ("reason=\"transmit_queue_full\"", e.transmits_dropped),
            ("reason=\"send_refused\"", stats.send_refused),
            ("reason=\"send_buffer_full\"", stats.send_dropped),
        ],
    );
    metric(
        m,
        "driver_turns_total",
        "counter",
        "Turns of the media thread's loop (one per wake-up).",
        &[("", stats.turns)],
    );
    metric(
        m,
        "driver_busy_seconds_total",
        "counter",
        "Time the media thread spent working, wake-up to next wait.",
        &[("", stats.busy.as_secs_f64())],
    );
    metric(
        m,
        "driver_longest_turn_seconds",
        "gauge",
        "The media thread's longest single turn since start.",
        &[("", stats.longest_turn.as_secs_f64())],
    );
    metric(
        m,
        "http_connections_total",
        "counter",
        "HTTP connections by outcome.",
        &[
            ("outcome=\"accepted\"", h(&http.accepted)),
            ("outcome=\"refused\"", h(&http.refused)),
            ("outcome=\"accept_error\"", h(&http.accept_errors)),
        ],
    );
    metric(
        m,
        "http_responses_total",
        "counter",
        "HTTP responses by status class.",
        &[
            ("class=\"2xx\"", h(&http.status_2xx)),
            ("class=\"4xx\"", h(&http.status_4xx)),
            ("class=\"5xx\"", h(&http.status_5xx)),
        ],
    );
    metric(
        m,
        "http_unauthorized_total",
        "counter",
        "Requests refused for a missing or wrong bearer.",
        &[("", h(&http.unauthorized))],
    );
    metric(
        m,
        "http_rate_limited_total",
        "counter",
        "Requests refused by a session's rate limit.",
        &[("", h(&http.rate_limited))],
    );
    out
}
