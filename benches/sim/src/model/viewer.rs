//! A viewer, as a browser receives: RTX decoded, `sfu-nack`'s
//! `LossDetector` per stream (the receiver logic a browser has), NACKs with
//! an RTT from NACK → RTX round trips (first NACKs only, windowed minimum),
//! receiver reports answering the SFU's sender reports. Sans-IO: the world
//! hands it packets and sends what it returns.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_core::{OutboundRtp, PullConfig, SessionId};
use sfu_nack::{Arrival, DetectorConfig, LossDetector};
use sfu_testkit::rtp::rtcp_packets;

use super::packets::{be32, id_in_payload, nack_rtcp, q16, receiver_report};
use super::{RTT_WINDOW, pull};

/// What a viewer reads of an RTP packet the router sent it (the simulated
/// endpoints negotiate no extensions, so nothing else matters; the world
/// hands this over instead of bytes to parse back).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ViewerPacket {
    pub(crate) ssrc: u32,
    pub(crate) seq: u16,
    /// The original sequence number of an RTX repair.
    pub(crate) rtx_osn: Option<u16>,
    /// The publisher's packet number in the payload.
    pub(crate) id: Option<u32>,
}

impl ViewerPacket {
    pub(crate) fn of(packet: &OutboundRtp) -> Self {
        Self {
            ssrc: packet.ssrc,
            seq: packet.sequence_number,
            rtx_osn: packet.rtx_osn,
            id: id_in_payload(&packet.payload),
        }
    }
}

/// Windowed minimum of NACK → repair samples, first NACKs only.
#[derive(Default)]
struct RttMin {
    samples: VecDeque<Duration>,
}

impl RttMin {
    fn push(&mut self, d: Duration) -> Duration {
        if self.samples.len() == RTT_WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(d);
        self.samples.iter().min().copied().unwrap_or(d)
    }
}

pub(crate) struct Viewer {
    /// Its session on the router it pulls from.
    pub(crate) session: SessionId,
    ssrc: [u32; 2],
    rtx_ssrc: [u32; 2],
    rtcp_ssrc: u32,
    detectors: [LossDetector; 2],
    /// (stream, seq) → (first NACK at, NACKed again).
    nacked_at: HashMap<(usize, u16), (Duration, bool)>,
    rtt: RttMin,
    /// Per stream: last SR's LSR and when it came.
    last_sr: [Option<(u32, Duration)>; 2],
    /// NACKed sequence numbers sent.
    pub(crate) nacks_sent: u64,
}

impl Viewer {
    /// Viewer number `index` (its SSRCs follow from it) on `session`.
    pub(crate) fn new(session: SessionId, index: usize) -> Self {
        let base = 0x6000_0000 + 16 * index as u32;
        let detector = || LossDetector::new(DetectorConfig::default()).expect("detector");
        Self {
            session,
            ssrc: [base, base + 2],
            rtx_ssrc: [base + 1, base + 3],
            rtcp_ssrc: base + 15,
            detectors: [detector(), detector()],
            nacked_at: HashMap::new(),
            rtt: RttMin::default(),
            last_sr: [None; 2],
            nacks_sent: 0,
        }
    }

    /// How it pulls stream 0 (video) or 1 (audio), with RTX.
    pub(crate) fn pull(&self, stream: usize) -> PullConfig {
        pull(self.ssrc, self.rtx_ssrc, stream)
    }

    fn stream_of(&self, ssrc: u32) -> Option<(usize, bool)> {
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

    /// An RTP packet arrived at `now` (`instant` on the routers' clock):
    /// `true` if it is new to the viewer (not a duplicate, on a stream it
    /// pulled); then ask [`Viewer::nacks`].
    pub(crate) fn handle_rtp(&mut self, now: Duration, instant: Instant, p: ViewerPacket) -> bool {
        let Some((stream, rtx)) = self.stream_of(p.ssrc) else {
            return false;
        };
        let seq = match (rtx, p.rtx_osn) {
            (false, _) => p.seq,
            (true, Some(osn)) => osn,
            (true, None) => return false,
        };
        match self.detectors[stream].handle_packet(instant, seq) {
            Arrival::Duplicate => return false,
            Arrival::Filled { after_nack: true } => {
                // Karn's rule, and RTX only: a plain packet may be a late
                // original.
                if let Some((at, retried)) = self.nacked_at.remove(&(stream, seq))
                    && !retried
                    && rtx
                {
                    let rtt = self.rtt.push(now.saturating_sub(at));
                    self.detectors[stream].set_rtt(rtt);
                }
            }
            _ => {}
        }
        true
    }

    /// The NACK each stream's detector wants sent now, if any.
    pub(crate) fn nacks(&mut self, now: Duration, instant: Instant) -> [Option<Bytes>; 2] {
        let mut out = [None, None];
        for (stream, slot) in out.iter_mut().enumerate() {
            let mut pairs = Vec::new();
            while let Some(pair) = self.detectors[stream].poll_nack(instant) {
                for seq in pair.seqs() {
                    self.nacks_sent += 1;
                    self.nacked_at
                        .entry((stream, seq))
                        .and_modify(|e| e.1 = true)
                        .or_insert((now, false));
                }
                pairs.push(pair);
            }
            if pairs.is_empty() {
                continue;
            }
            // Forget first-NACK times of packets never repaired.
            self.nacked_at
                .retain(|_, (at, _)| now.saturating_sub(*at) < Duration::from_secs(2));
            *slot = Some(nack_rtcp(self.rtcp_ssrc, self.ssrc[stream], &pairs));
        }
        out
    }

    /// When the detectors next need [`Viewer::handle_timeout`] (or a NACK
    /// falls due).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.detectors.iter().filter_map(|d| d.poll_timeout()).min()
    }

    /// Runs the detectors' timers if due; `true` if they ran (then ask
    /// [`Viewer::nacks`]).
    pub(crate) fn handle_timeout(&mut self, instant: Instant) -> bool {
        let due = self
            .detectors
            .iter()
            .any(|d| d.poll_timeout().is_some_and(|t| t <= instant));
        if due {
            for d in &mut self.detectors {
                d.handle_timeout(instant);
            }
        }
        due
    }

    /// RTCP from the router: sender reports, remembered for the next RR.
    pub(crate) fn handle_rtcp(&mut self, now: Duration, data: &[u8]) {
        for (pt, _, body) in rtcp_packets(data) {
            if pt != 200 {
                continue;
            }
            let ssrc = be32(body, 0);
            let ntp = (u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8));
            if let Some((s, false)) = self.stream_of(ssrc) {
                self.last_sr[s] = Some(((ntp >> 16) as u32, now));
            }
        }
    }

    /// A receiver report about both streams.
    pub(crate) fn receiver_report(&self, now: Duration) -> Bytes {
        let blocks: Vec<(u32, u32, u32, u32)> = (0..2)
            .map(|s| {
                let (lsr, dlsr) =
                    self.last_sr[s].map_or((0, 0), |(lsr, at)| (lsr, q16(now.saturating_sub(at))));
                let highest = self.detectors[s].highest().unwrap_or(0) as u32;
                (self.ssrc[s], highest, lsr, dlsr)
            })
            .collect();
        receiver_report(self.rtcp_ssrc, &blocks)
    }
}
