//! The publisher: VP8 at 30 fps (a keyframe of 30 packets every 2 s or when
//! asked, otherwise frames of 2–6 packets, paced) and Opus at 50 pps, a
//! send history answering NACKs with RTX, PLI/FIR answered with a keyframe,
//! sender reports. Sans-IO: what it sends waits in [`Publisher::poll_transmit`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use sfu_nack::NackPair;
use sfu_testkit::rng::Rng;
use sfu_testkit::rtp::{Rtcp, rtcp_packets};

use super::packets::{be32, from_q16, ntp_at, report_blocks, rtp_bytes};
use super::{
    AUDIO_INTERVAL, AUDIO_PT, AUDIO_RTX_PT, FRAME, HISTORY, PACING, PUB_RTX_SSRC, PUB_SSRC,
    VIDEO_PT, VIDEO_RTX_PT,
};

/// A datagram the publisher hands to its link.
pub(crate) enum Sent {
    /// An original media packet: its packet number (0, 1, 2, … across both
    /// streams, carried in the payload), when it leaves (paced), the bytes.
    Media { id: u32, at: Duration, data: Bytes },
    /// An RTX retransmission answering a NACK, sent now.
    Repair(Bytes),
    /// A sender report, sent now.
    Report(Bytes),
}

impl Sent {
    /// When it leaves (`now` unless paced), whether it is RTCP, the bytes,
    /// and the packet number of an original media packet.
    pub(crate) fn into_parts(self, now: Duration) -> (Duration, bool, Bytes, Option<u32>) {
        match self {
            Sent::Media { id, at, data } => (at, false, data, Some(id)),
            Sent::Repair(data) => (now, false, data, None),
            Sent::Report(data) => (now, true, data, None),
        }
    }
}

pub(crate) struct Publisher {
    seq: [u16; 2],
    rtx_seq: [u16; 2],
    frame: u32,
    keyframe_due: bool,
    next_video: Duration,
    next_audio: Duration,
    /// (stream, seq) → (payload, timestamp, marker), bounded by `order`.
    history: HashMap<(usize, u16), (Bytes, u32, bool)>,
    order: VecDeque<(usize, u16)>,
    /// Every (stream, seq) a NACK asked for.
    pub(crate) nacked: HashSet<(usize, u16)>,
    /// Every NACKed sequence number that arrived, repeats included.
    pub(crate) nack_requests: u64,
    /// PLIs and FIRs that arrived.
    pub(crate) keyframe_requests: u64,
    sent_srs: VecDeque<(u32, Duration)>,
    /// RTTs from report blocks answering its sender reports.
    pub(crate) rtt_samples: Vec<Duration>,
    rng: Rng,
    packets: u32,
    outbox: VecDeque<Sent>,
}

impl Publisher {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seq: [1000, 30_000],
            rtx_seq: [0, 0],
            frame: 0,
            keyframe_due: true,
            next_video: Duration::ZERO,
            next_audio: Duration::from_millis(3),
            history: HashMap::new(),
            order: VecDeque::new(),
            nacked: HashSet::new(),
            nack_requests: 0,
            keyframe_requests: 0,
            sent_srs: VecDeque::new(),
            rtt_samples: Vec::new(),
            rng: Rng::splitmix_stream(seed, 1),
            packets: 0,
            outbox: VecDeque::new(),
        }
    }

    /// When media is next due, if before `send_end`.
    pub(crate) fn next_send(&self, send_end: Duration) -> Option<Duration> {
        [self.next_video, self.next_audio]
            .into_iter()
            .filter(|t| *t < send_end)
            .min()
    }

    /// Sends the video frame and audio packet due at `now`.
    pub(crate) fn send_due(&mut self, now: Duration, send_end: Duration) {
        if self.next_video <= now && now < send_end {
            self.send_frame(now);
            self.next_video += FRAME;
        }
        if self.next_audio <= now && now < send_end {
            self.send_audio(now);
            self.next_audio += AUDIO_INTERVAL;
        }
    }

    /// The next datagram to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<Sent> {
        self.outbox.pop_front()
    }

    fn publish(
        &mut self,
        stream: usize,
        id: u32,
        payload: Bytes,
        ts: u32,
        marker: bool,
        at: Duration,
    ) {
        let seq = self.seq[stream];
        self.seq[stream] = seq.wrapping_add(1);
        if self.order.len() == HISTORY
            && let Some(old) = self.order.pop_front()
        {
            self.history.remove(&old);
        }
        self.order.push_back((stream, seq));
        self.history
            .insert((stream, seq), (payload.clone(), ts, marker));
        let pt = [VIDEO_PT, AUDIO_PT][stream];
        let data = rtp_bytes(PUB_SSRC[stream], pt, seq, ts, marker, payload);
        self.outbox.push_back(Sent::Media { id, at, data });
    }

    /// A new packet number.
    fn new_packet(&mut self) -> u32 {
        self.packets += 1;
        self.packets - 1
    }

    fn send_frame(&mut self, now: Duration) {
        let key = self.keyframe_due || self.frame.is_multiple_of(60);
        self.keyframe_due = false;
        let count = if key {
            30
        } else {
            2 + (self.rng.next_u64() % 5) as usize
        };
        let ts = self.frame.wrapping_mul(3000);
        self.frame += 1;
        for k in 0..count {
            let at = now + PACING * k as u32;
            let id = self.new_packet();
            let mut body = Vec::with_capacity(1200);
            body.push(if k == 0 { 0x10 } else { 0x00 });
            body.push(if key { 0x00 } else { 0x01 });
            body.extend_from_slice(&id.to_be_bytes());
            body.resize(if key { 1200 } else { 1000 }, 0xAB);
            self.publish(0, id, Bytes::from(body), ts, k + 1 == count, at);
        }
    }

    fn send_audio(&mut self, now: Duration) {
        let id = self.new_packet();
        let mut body = vec![0xfc, 0x00];
        body.extend_from_slice(&id.to_be_bytes());
        body.resize(100, 0x5A);
        let ts = (now.as_micros() * 48 / 1000) as u32;
        self.publish(1, id, Bytes::from(body), ts, false, now);
    }

    /// RTCP from the first hop: NACKs (answered with RTX at once), PLI and
    /// FIR (the next frame is a keyframe), receiver reports (RTT samples).
    pub(crate) fn handle_rtcp(&mut self, now: Duration, data: &Bytes) {
        let mut answers = Vec::new();
        for (pt, fmt, body) in rtcp_packets(data) {
            match (pt, fmt) {
                (205, 1) => {
                    let media = be32(body, 4);
                    let Some(stream) = PUB_SSRC.iter().position(|s| *s == media) else {
                        continue;
                    };
                    for fci in body.get(8..).unwrap_or_default().chunks_exact(4) {
                        let pair = NackPair {
                            pid: u16::from_be_bytes([fci[0], fci[1]]),
                            blp: u16::from_be_bytes([fci[2], fci[3]]),
                        };
                        for seq in pair.seqs() {
                            self.nack_requests += 1;
                            self.nacked.insert((stream, seq));
                            answers.push((stream, seq));
                        }
                    }
                }
                (206, 1 | 4) => {
                    self.keyframe_requests += 1;
                    self.keyframe_due = true;
                }
                (201, count) => {
                    for (_, lsr, dlsr) in report_blocks(body, count, 4) {
                        let sent = self.sent_srs.iter().find(|(l, _)| *l == lsr);
                        if let Some(&(_, at)) = sent.filter(|_| lsr != 0) {
                            let rtt = now.saturating_sub(at).saturating_sub(from_q16(dlsr));
                            self.rtt_samples.push(rtt);
                        }
                    }
                }
                _ => {}
            }
        }
        for (stream, seq) in answers {
            let Some((payload, ts, marker)) = self.history.get(&(stream, seq)).cloned() else {
                continue;
            };
            let rtx_seq = self.rtx_seq[stream];
            self.rtx_seq[stream] = rtx_seq.wrapping_add(1);
            let mut body = seq.to_be_bytes().to_vec();
            body.extend_from_slice(&payload);
            let pt = [VIDEO_RTX_PT, AUDIO_RTX_PT][stream];
            let data = rtp_bytes(PUB_RTX_SSRC[stream], pt, rtx_seq, ts, marker, body.into());
            self.outbox.push_back(Sent::Repair(data));
        }
    }

    /// A sender report per stream.
    pub(crate) fn send_reports(&mut self, now: Duration) {
        let ntp = ntp_at(now);
        let lsr = (ntp >> 16) as u32;
        if self.sent_srs.len() == 8 {
            self.sent_srs.pop_front();
        }
        self.sent_srs.push_back((lsr, now));
        for (ssrc, khz) in [(PUB_SSRC[0], 90), (PUB_SSRC[1], 48)] {
            let rtp = (now.as_micros() * khz / 1000) as u32;
            self.outbox
                .push_back(Sent::Report(Rtcp::new().sr(ssrc, ntp, rtp).bytes()));
        }
    }
}
