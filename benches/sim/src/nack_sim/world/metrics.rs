//! The figures of a finished run.

use super::*;
use crate::model::DEADLINE;

/// What the metrics need about one media packet.
#[derive(Clone, Copy, Default)]
pub(crate) struct PacketLog {
    pub(crate) sent_at: Duration,
    pub(crate) measured: bool,
    pub(crate) pub_lost: bool,
    pub(crate) relay_seen: bool,
    pub(crate) relay_lost: bool,
}

/// What the metrics need about one media packet at one viewer.
#[derive(Clone, Copy, Default)]
pub(crate) struct Reception {
    pub(crate) arrival: Option<Duration>,
    pub(crate) first_copy_seen: bool,
    pub(crate) first_copy_lost: bool,
    pub(crate) cache_repaired: bool,
}

impl<R: Recovery> World<R> {
    pub(crate) fn report(self) -> SimReport {
        let nominal: Duration = self.o.delays.iter().sum();
        let mut measured = 0u64;
        let (mut in_time, mut eventually) = (0u64, 0u64);
        let mut recovery: Vec<f64> = Vec::new();
        let mut by_hop: [Vec<f64>; 3] = Default::default();
        let mut missed_by_hop = [0u64; 3];
        let (mut hop_losses, mut cache_repairs) = (0u64, 0u64);
        for (id, log) in self.packets.iter().enumerate() {
            if !log.measured {
                continue;
            }
            measured += 1;
            for r in self.receptions.iter().filter_map(|r| r.get(id)) {
                if r.first_copy_lost {
                    hop_losses += 1;
                    cache_repairs += u64::from(r.cache_repaired);
                }
                let hop = if log.pub_lost {
                    Some(0)
                } else if log.relay_lost {
                    Some(1)
                } else if r.first_copy_lost {
                    Some(2)
                } else {
                    None
                };
                let on_time = r
                    .arrival
                    .is_some_and(|a| a.saturating_sub(log.sent_at) <= DEADLINE);
                in_time += u64::from(on_time);
                if let (false, Some(hop)) = (on_time, hop) {
                    missed_by_hop[hop] += 1;
                }
                let (Some(arrival), Some(hop)) = (r.arrival, hop) else {
                    eventually += u64::from(r.arrival.is_some());
                    continue;
                };
                eventually += 1;
                let late = arrival.saturating_sub(log.sent_at).saturating_sub(nominal);
                let ms = late.as_secs_f64() * 1000.0;
                recovery.push(ms);
                by_hop[hop].push(ms);
            }
        }
        let pairs = (measured * self.o.subscribers as u64) as f64;
        let percentile = |v: &mut Vec<f64>, q: f64| {
            if v.is_empty() {
                return f64::NAN;
            }
            v.sort_by(f64::total_cmp);
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            v[rank - 1]
        };
        let mean_ms = |v: &[Duration]| {
            if v.is_empty() {
                f64::NAN
            } else {
                v.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / v.len() as f64
            }
        };
        let sub_rtts: Vec<Duration> = self
            .viewers
            .iter()
            .filter_map(|v| self.b.session_rtt(v.session))
            .collect();
        let relay_rtt: Vec<Duration> = self.a.session_rtt(self.relay.up).into_iter().collect();
        let stats = [
            self.a.loss_recovery().shield_stats(),
            self.b.loss_recovery().shield_stats(),
        ];
        let losses = self.publisher_losses as f64;
        let distinct = self.publisher.nacked.len() as u64;
        SimReport {
            seed: self.o.seed,
            media_packets: measured,
            delivered_within_deadline: in_time as f64 / pairs,
            delivered_eventually: eventually as f64 / pairs,
            recovery_ms_p50: percentile(&mut recovery, 0.50),
            recovery_ms_p99: percentile(&mut recovery, 0.99),
            recovery_ms_p50_by_hop: [
                percentile(&mut by_hop[0], 0.5),
                percentile(&mut by_hop[1], 0.5),
                percentile(&mut by_hop[2], 0.5),
            ],
            recovered_by_hop: [
                by_hop[0].len() as u64,
                by_hop[1].len() as u64,
                by_hop[2].len() as u64,
            ],
            missed_by_hop,
            rtt_ms_by_hop: [
                mean_ms(&self.publisher.rtt_samples),
                mean_ms(&relay_rtt),
                mean_ms(&sub_rtts),
            ],
            publisher_losses: self.publisher_losses,
            publisher_nacked_distinct: distinct,
            publisher_nack_requests: self.publisher.nack_requests,
            publisher_nacks_per_publisher_loss: distinct as f64 / losses,
            publisher_nack_requests_per_publisher_loss: self.publisher.nack_requests as f64
                / losses,
            subscriber_hop_losses: hop_losses,
            subscriber_hop_cache_repairs: cache_repairs,
            repairs_from_nearest_cache: cache_repairs as f64 / hop_losses.max(1) as f64,
            cache_bytes_max: stats
                .iter()
                .flatten()
                .map(|s| s.hop.cache_bytes_max)
                .max()
                .unwrap_or(0),
            shield_stats: stats,
            subscriber_nacks: self.viewers.iter().map(|v| v.nacks_sent).sum(),
        }
    }
}
