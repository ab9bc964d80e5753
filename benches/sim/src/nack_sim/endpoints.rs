//! The simulated publisher and viewers: what each endpoint remembers.

use super::*;

/// Windowed minimum of NACK → repair samples, first NACKs only.
#[derive(Default)]
pub(crate) struct RttMin {
    pub(crate) samples: VecDeque<Duration>,
}

impl RttMin {
    pub(crate) fn push(&mut self, d: Duration) -> Duration {
        if self.samples.len() == RTT_WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(d);
        self.samples.iter().min().copied().unwrap_or(d)
    }
}

pub(crate) struct Publisher {
    pub(crate) seq: [u16; 2],
    pub(crate) rtx_seq: [u16; 2],
    pub(crate) frame: u32,
    pub(crate) keyframe_due: bool,
    pub(crate) next_video: Duration,
    pub(crate) next_audio: Duration,
    /// (stream, seq) → (payload, timestamp, marker), bounded by `order`.
    pub(crate) history: HashMap<(usize, u16), (Bytes, u32, bool)>,
    pub(crate) order: VecDeque<(usize, u16)>,
    /// (stream, seq) → packet number, for NACK accounting.
    pub(crate) nacked: HashSet<(usize, u16)>,
    pub(crate) nack_requests: u64,
    pub(crate) sent_srs: VecDeque<(u32, Duration)>,
    pub(crate) rtt_samples: Vec<Duration>,
    pub(crate) rng: Rng,
}

pub(crate) struct Viewer {
    pub(crate) session: SessionId,
    pub(crate) ssrc: [u32; 2],
    pub(crate) rtx_ssrc: [u32; 2],
    pub(crate) rtcp_ssrc: u32,
    pub(crate) detectors: [LossDetector; 2],
    /// (stream, seq) → (first NACK at, NACKed again).
    pub(crate) nacked_at: HashMap<(usize, u16), (Duration, bool)>,
    pub(crate) rtt: RttMin,
    /// Per stream: last SR's LSR and when it came.
    pub(crate) last_sr: [Option<(u32, Duration)>; 2],
    pub(crate) nacks_sent: u64,
}

impl Viewer {
    pub(crate) fn stream_of(&self, ssrc: u32) -> Option<(usize, bool)> {
        (0..2).find_map(|s| {
            if self.ssrc[s] == ssrc {
                Some((s, false))
            } else if self.rtx_ssrc[s] == ssrc {
                Some((s, true))
            } else {
                None
            }
        })
    }
}

/// What the metrics need about one media packet.
#[derive(Clone, Copy, Default)]
pub(crate) struct PacketLog {
    pub(crate) sent_at: Duration,
    pub(crate) measured: bool,
    pub(crate) pub_lost: bool,
    pub(crate) relay_seen: bool,
    pub(crate) relay_lost: bool,
}

#[derive(Clone, Copy, Default)]
pub(crate) struct Reception {
    pub(crate) arrival: Option<Duration>,
    pub(crate) first_copy_seen: bool,
    pub(crate) first_copy_lost: bool,
    pub(crate) cache_repaired: bool,
}
