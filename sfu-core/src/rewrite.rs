//! Per-subscriber sequence-number and timestamp rewriting.
//!
//! A subscriber sees one continuous stream whatever layer it comes from:
//! sequence numbers have no gaps where the router dropped packets (other
//! layers, padding), but a real loss on the publisher's link stays visible
//! as a gap so the subscriber can NACK it; timestamps continue across a
//! layer switch. Both are `out = in + delta` per segment (a run of packets
//! from one layer); the last few segments are kept to map a subscriber's
//! NACK back to the publisher's sequence numbers.

use std::time::Instant;

use crate::LayerIndex;

const SEGMENTS: usize = 8;

#[derive(Debug, Clone, Copy, Default)]
struct Segment {
    layer: LayerIndex,
    /// First input extended sequence number of the segment.
    in_start: u64,
    /// First output extended sequence number of the segment.
    out_start: u64,
    /// `in_ext + delta = out_ext` within the segment.
    delta: i64,
}

/// The rewriting state of one subscription.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rewriter {
    current: Option<LayerIndex>,
    /// Input packets older than this belong to before the switch: dropped.
    start_in: u64,
    highest_in: u64,
    delta: i64,
    last_out: Option<u64>,
    ts_delta: u32,
    last_out_ts: u32,
    last_out_at: Option<Instant>,
    segments: [Segment; SEGMENTS],
    segment_count: usize,
}

/// Where a subscriber's outgoing stream stands: pass it to
/// [`crate::PullConfig::resume`] so a new subscription on the same SSRC
/// (e.g. after the publisher reconnected) continues without a jump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumePoint {
    /// The last sequence number sent.
    pub sequence_number: u16,
    /// The last RTP timestamp sent.
    pub timestamp: u32,
    /// When it was sent.
    pub at: Instant,
}

/// A rewritten sequence number and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rewritten {
    pub seq: u16,
    pub ts: u32,
}

impl Rewriter {
    pub fn current(&self) -> Option<LayerIndex> {
        self.current
    }

    pub fn last_out_ts(&self) -> Option<u32> {
        self.last_out.map(|_| self.last_out_ts)
    }

    /// When the newest packet was rewritten.
    pub fn last_out_at(&self) -> Option<Instant> {
        self.last_out_at
    }

    /// Where the subscriber's stream stands, to continue it elsewhere.
    pub fn resume_point(&self) -> Option<ResumePoint> {
        Some(ResumePoint {
            sequence_number: self.last_out? as u16,
            timestamp: self.last_out_ts,
            at: self.last_out_at?,
        })
    }

    /// Continues a stream another subscription left at `point`: the next
    /// packet gets the following sequence number and a timestamp advanced
    /// by the time elapsed since.
    pub fn resume(&mut self, point: ResumePoint) {
        self.last_out = Some((1u64 << 32) | u64::from(point.sequence_number));
        self.last_out_ts = point.timestamp;
        self.last_out_at = Some(point.at);
    }

    pub fn ts_delta(&self) -> u32 {
        self.ts_delta
    }

    /// Starts a new segment on `layer` with the packet `(in_ext, in_ts)`,
    /// which will be output with timestamp `out_ts`.
    pub fn switch(&mut self, layer: LayerIndex, in_ext: u64, in_ts: u32, out_ts: u32) {
        let out = self.last_out.map_or(in_ext, |l| l + 1);
        self.current = Some(layer);
        self.start_in = in_ext;
        self.highest_in = in_ext;
        self.delta = out as i64 - in_ext as i64;
        self.ts_delta = out_ts.wrapping_sub(in_ts);
        self.push_segment(layer, in_ext, out);
    }

    /// Stops delivery (pause, or the track ended); the next packet must
    /// start a new segment with [`Rewriter::switch`].
    pub fn stop(&mut self) {
        self.current = None;
    }

    /// Rewrites a packet of the current layer, or `None` when it predates
    /// the current segment.
    pub fn rewrite(&mut self, now: Instant, in_ext: u64, in_ts: u32) -> Option<Rewritten> {
        if in_ext < self.start_in {
            return None;
        }
        let out = (in_ext as i64 + self.delta).max(0) as u64;
        self.highest_in = self.highest_in.max(in_ext);
        let ts = in_ts.wrapping_add(self.ts_delta);
        if self.last_out.is_none_or(|l| out > l) {
            self.last_out = Some(out);
            self.last_out_ts = ts;
            self.last_out_at = Some(now);
        }
        Some(Rewritten {
            seq: out as u16,
            ts,
        })
    }

    /// A packet of the current layer the subscriber will not get (padding,
    /// policy): close the gap it would leave, if it is the newest.
    pub fn skip(&mut self, in_ext: u64) {
        if self.current.is_none() || in_ext <= self.highest_in {
            return;
        }
        self.highest_in = in_ext;
        self.delta -= 1;
        let out = (in_ext as i64 + self.delta + 1).max(0) as u64;
        if let Some(layer) = self.current {
            self.push_segment(layer, in_ext + 1, out);
        }
    }

    /// Maps a sequence number the subscriber NACKed back to the layer and
    /// the publisher's extended sequence number.
    pub fn to_input(&self, out_seq: u16) -> Option<(LayerIndex, u64)> {
        let last = self.last_out?;
        let d = i64::from(out_seq.wrapping_sub(last as u16) as i16);
        let out = last.checked_add_signed(d)?;
        // Newest segment first: the one that starts at or before `out`.
        self.newest_segments()
            .find(|s| s.out_start <= out)
            .and_then(|s| {
                u64::try_from(out as i64 - s.delta)
                    .ok()
                    .map(|i| (s.layer, i))
            })
    }

    /// Maps a publisher packet of `layer` to the sequence number this
    /// subscriber knows it by (for retransmissions).
    pub fn to_output(&self, layer: LayerIndex, in_ext: u64) -> Option<u16> {
        self.newest_segments()
            .find(|s| s.layer == layer && in_ext >= s.in_start)
            .map(|s| (in_ext as i64 + s.delta) as u16)
    }

    fn newest_segments(&self) -> impl Iterator<Item = Segment> + '_ {
        (0..self.segment_count.min(SEGMENTS))
            .map(|k| self.segments[(self.segment_count - 1 - k) % SEGMENTS])
    }

    fn push_segment(&mut self, layer: LayerIndex, in_start: u64, out_start: u64) {
        self.segments[self.segment_count % SEGMENTS] = Segment {
            layer,
            in_start,
            out_start,
            delta: self.delta,
        };
        self.segment_count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        Instant::now()
    }

    const L0: LayerIndex = LayerIndex(0);
    const L1: LayerIndex = LayerIndex(1);

    #[test]
    fn switch_continues_sequence_and_timestamp() {
        let mut r = Rewriter::default();
        r.switch(L0, 100, 1000, 1000);
        assert_eq!(
            r.rewrite(t0(), 100, 1000).unwrap(),
            Rewritten { seq: 100, ts: 1000 }
        );
        assert_eq!(r.rewrite(t0(), 101, 4000).unwrap().seq, 101);
        r.switch(L1, 5000, 77, 7000);
        assert_eq!(
            r.rewrite(t0(), 5000, 77).unwrap(),
            Rewritten { seq: 102, ts: 7000 }
        );
        assert_eq!(
            r.rewrite(t0(), 5001, 3077).unwrap(),
            Rewritten {
                seq: 103,
                ts: 10000
            }
        );
        // Old segment's late packet is not forwarded.
        assert_eq!(r.rewrite(t0(), 4999, 0), None);
    }

    #[test]
    fn real_losses_stay_visible_and_skips_do_not() {
        let mut r = Rewriter::default();
        r.switch(L0, 10, 0, 0);
        r.rewrite(t0(), 10, 0);
        assert_eq!(r.rewrite(t0(), 13, 0).unwrap().seq, 13);
        r.skip(14);
        assert_eq!(r.rewrite(t0(), 15, 0).unwrap().seq, 14);
    }

    #[test]
    fn resume_continues_numbering() {
        let mut r = Rewriter::default();
        r.resume(ResumePoint {
            sequence_number: 65535,
            timestamp: 10,
            at: t0(),
        });
        r.switch(L0, 7, 500, 3010);
        assert_eq!(
            r.rewrite(t0(), 7, 500).unwrap(),
            Rewritten { seq: 0, ts: 3010 }
        );
    }

    #[test]
    fn nack_maps_back_through_segments_and_wrap() {
        let mut r = Rewriter::default();
        r.switch(L0, 65534, 0, 0);
        for s in 65534..65540 {
            r.rewrite(t0(), s, 0);
        }
        r.switch(L1, 900, 0, 1);
        r.rewrite(t0(), 900, 0);
        r.rewrite(t0(), 901, 0);
        assert_eq!(r.to_input(65535), Some((L0, 65535)));
        assert_eq!(r.to_input(2), Some((L0, 65538)));
        assert_eq!(r.to_input(4), Some((L1, 900)));
        assert_eq!(r.to_input(5), Some((L1, 901)));
        assert_eq!(r.to_output(L0, 65538), Some(2));
        assert_eq!(r.to_output(L1, 901), Some(5));
    }
}
