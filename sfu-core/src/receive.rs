//! Receive-side bookkeeping per layer: the RFC 3550 reception statistics behind the receiver reports we generate,
//! the publisher's wallclock mapping from its sender reports, and a bitrate
//! meter for layer selection.

use std::time::{Duration, Instant};

use rtc_rtcp::reception_report::ReceptionReport;

/// The last sender report of a stream: RTP time `rtp` was wallclock `ntp`
/// (64-bit NTP format), and we received it at `received_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderClock {
    /// NTP timestamp from the SR.
    pub ntp: u64,
    /// RTP timestamp from the SR.
    pub rtp: u32,
    /// When the SR arrived.
    pub received_at: Instant,
}

impl SenderClock {
    /// The RTP time of this stream at wallclock `ntp`, extrapolated at
    /// `clock_rate`.
    pub fn rtp_at(&self, ntp: u64, clock_rate: u32) -> u32 {
        let diff = ntp.wrapping_sub(self.ntp) as i64;
        // 32.32 fixed point seconds times ticks per second.
        let ticks = ((i128::from(diff) * i128::from(clock_rate)) >> 32) as i64;
        self.rtp.wrapping_add(ticks as u32)
    }
}

/// RFC 3550 §6.4.1 / Appendix A.3 and A.8: loss and jitter for one source.
#[derive(Debug, Clone, Default)]
pub struct ReceiveStats {
    base: Option<u64>,
    max: u64,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    last_transit: Option<i64>,
    /// Interarrival jitter in RTP units, scaled by 16 as in A.8.
    jitter_q4: i64,
}

impl ReceiveStats {
    /// Records one packet (original or repaired) with its extended sequence
    /// number, RTP timestamp and arrival time expressed in RTP units.
    pub fn on_packet(&mut self, ext_seq: u64, rtp_ts: u32, arrival_rtp: u32, repaired: bool) {
        if self.base.is_none() {
            self.base = Some(ext_seq);
            self.max = ext_seq;
        }
        self.received += 1;
        if ext_seq > self.max {
            self.max = ext_seq;
        }
        if repaired {
            // Jitter describes the network path of originals only.
            return;
        }
        let transit = i64::from(arrival_rtp.wrapping_sub(rtp_ts) as i32);
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            self.jitter_q4 += d - ((self.jitter_q4 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// Packets lost so far (may be negative with duplicates, clamped).
    pub fn cumulative_lost(&self) -> i64 {
        match self.base {
            None => 0,
            Some(base) => (self.max - base + 1) as i64 - self.received as i64,
        }
    }

    /// Builds the report block for `ssrc` and starts a new interval.
    pub fn report(
        &mut self,
        ssrc: u32,
        clock: Option<&SenderClock>,
        now: Instant,
    ) -> Option<ReceptionReport> {
        let base = self.base?;
        let expected = self.max - base + 1;
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (last_sender_report, delay) = match clock {
            Some(c) => {
                let since = now.saturating_duration_since(c.received_at);
                ((c.ntp >> 16) as u32, duration_to_q16(since))
            }
            None => (0, 0),
        };
        Some(ReceptionReport {
            ssrc,
            fraction_lost,
            // 24-bit signed field.
            total_lost: self.cumulative_lost().clamp(-0x80_0000, 0x7F_FFFF) as u32 & 0xFF_FFFF,
            last_sequence_number: self.max as u32,
            jitter: (self.jitter_q4 >> 4) as u32,
            last_sender_report,
            delay,
        })
    }
}

/// A duration in units of 1/65536 s, as DLSR wants.
pub fn duration_to_q16(d: Duration) -> u32 {
    ((d.as_nanos() << 16) / 1_000_000_000).min(u128::from(u32::MAX)) as u32
}

/// A bitrate meter over a sliding window of ten 100 ms buckets.
#[derive(Debug, Clone, Default)]
pub struct RateMeter {
    buckets: [u64; 10],
    epoch: Option<Instant>,
    current: u64,
}

impl RateMeter {
    const BUCKET: Duration = Duration::from_millis(100);

    /// Adds `bytes` at `now`.
    pub fn add(&mut self, now: Instant, bytes: usize) {
        self.advance(now);
        let i = (self.current % 10) as usize;
        if let Some(b) = self.buckets.get_mut(i) {
            *b += bytes as u64;
        }
    }

    /// Bits per second over the last second, as of `now`.
    pub fn bps(&mut self, now: Instant) -> u64 {
        self.advance(now);
        self.buckets.iter().sum::<u64>() * 8
    }

    fn advance(&mut self, now: Instant) {
        let epoch = *self.epoch.get_or_insert(now);
        let slot =
            (now.saturating_duration_since(epoch).as_millis() / Self::BUCKET.as_millis()) as u64;
        if slot <= self.current {
            return;
        }
        let steps = (slot - self.current).min(10);
        for k in 1..=steps {
            let i = ((self.current + k) % 10) as usize;
            if let Some(b) = self.buckets.get_mut(i) {
                *b = 0;
            }
        }
        self.current = slot;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_counts_interval_loss() {
        let mut s = ReceiveStats::default();
        let now = Instant::now();
        for seq in [10u64, 11, 13, 14] {
            s.on_packet(seq, 0, 0, false);
        }
        let r = s.report(1, None, now).unwrap();
        assert_eq!(r.total_lost, 1);
        assert_eq!(r.fraction_lost, (256 / 5) as u8);
        assert_eq!(r.last_sequence_number, 14);
        for seq in 15u64..20 {
            s.on_packet(seq, 0, 0, false);
        }
        assert_eq!(s.report(1, None, now).unwrap().fraction_lost, 0);
    }

    #[test]
    fn sender_clock_extrapolates() {
        let c = SenderClock {
            ntp: 10 << 32,
            rtp: 1000,
            received_at: Instant::now(),
        };
        assert_eq!(c.rtp_at(11 << 32, 90_000), 91_000);
        assert_eq!(c.rtp_at((10 << 32) + (1 << 31), 48_000), 25_000);
    }

    #[test]
    fn rate_meter_forgets_after_a_second() {
        let t0 = Instant::now();
        let mut r = RateMeter::default();
        r.add(t0, 1000);
        assert_eq!(r.bps(t0 + Duration::from_millis(500)), 8000);
        assert_eq!(r.bps(t0 + Duration::from_millis(1500)), 0);
    }
}
