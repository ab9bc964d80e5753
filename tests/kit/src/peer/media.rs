//! Media state: what the peer sends (per RTP stream, with a bounded send
//! history for retransmissions) and what it receives (per SSRC: loss
//! detection, NACK retries, reception-report statistics), and the record
//! of every received packet.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::rtp::ReportBlock;

/// Packets kept per SSRC for retransmission.
pub(crate) const HISTORY: usize = 1024;
/// A missing packet is NACKed again this often...
pub(crate) const NACK_RETRY: Duration = Duration::from_millis(100);
/// ...at most this many times after the first NACK.
pub(crate) const NACK_RETRIES: u8 = 5;
/// At most this many missing packets tracked per stream.
const MAX_MISSING: usize = 512;
/// A jump larger than this restarts the stream's loss detection.
const MAX_GAP: u64 = 1000;

/// One RTP packet the peer received, decrypted and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRtp {
    /// When it arrived.
    pub at: Instant,
    /// Its m-section: from the mid header extension, else the SSRC the SDP declared.
    pub mid: Option<String>,
    /// The media SSRC (for RTX: the SSRC it repairs, from `a=ssrc-group:FID`).
    pub ssrc: u32,
    /// The payload type as received (the RTX one for RTX).
    pub pt: u8,
    /// The sequence number (for RTX: the original one, from the OSN).
    pub seq: u16,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The marker bit.
    pub marker: bool,
    /// The payload (for RTX: without the OSN), padding removed.
    pub payload: Vec<u8>,
    /// Whether it came as an RTX retransmission (RFC 4588).
    pub rtx: bool,
}

/// One packet the peer sent, kept to answer NACKs.
#[derive(Debug, Clone)]
pub(crate) struct SentPacket {
    pub seq: u16,
    pub timestamp: u32,
    pub marker: bool,
    pub payload: Vec<u8>,
}

/// One RTP stream the peer sends (a section's only stream, or one simulcast layer).
#[derive(Debug)]
pub(crate) struct OutStream {
    pub rid: Option<String>,
    pub ssrc: u32,
    pub rtx_ssrc: Option<u32>,
    pub next_seq: u16,
    pub next_rtx_seq: u16,
    pub timestamp_base: u32,
    pub last_timestamp: Option<u32>,
    pub picture_id: u16,
    /// For sender reports: packets and payload octets sent, and the
    /// timestamp and time of the latest packet.
    pub packets_sent: u32,
    pub octets_sent: u32,
    pub last_sent: Option<(u32, Instant)>,
    history: Vec<Option<SentPacket>>,
}

impl OutStream {
    pub(crate) fn new(rid: Option<String>, ssrc: u32, rtx_ssrc: Option<u32>, random: u64) -> Self {
        OutStream {
            rid,
            ssrc,
            rtx_ssrc,
            next_seq: (random & 0x7fff) as u16,
            next_rtx_seq: ((random >> 16) & 0x7fff) as u16,
            timestamp_base: (random >> 32) as u32,
            last_timestamp: None,
            picture_id: ((random >> 48) & 0x7fff) as u16,
            packets_sent: 0,
            octets_sent: 0,
            last_sent: None,
            history: (0..HISTORY).map(|_| None).collect(),
        }
    }

    /// Counts an original packet for sender reports.
    pub(crate) fn count(&mut self, now: Instant, timestamp: u32, payload_len: usize) {
        self.packets_sent = self.packets_sent.wrapping_add(1);
        self.octets_sent = self.octets_sent.wrapping_add(payload_len as u32);
        self.last_sent = Some((timestamp, now));
    }

    pub(crate) fn remember(&mut self, packet: SentPacket) {
        let i = usize::from(packet.seq) % HISTORY;
        if let Some(slot) = self.history.get_mut(i) {
            *slot = Some(packet);
        }
    }

    pub(crate) fn sent(&self, seq: u16) -> Option<&SentPacket> {
        self.history
            .get(usize::from(seq) % HISTORY)?
            .as_ref()
            .filter(|p| p.seq == seq)
    }

    /// The next timestamp: `clock_rate` ticks per second since `start`,
    /// at least one `step` after the previous one.
    pub(crate) fn timestamp(&mut self, elapsed: Duration, clock_rate: u32, step: u32) -> u32 {
        let ticks = (elapsed.as_micros() * u128::from(clock_rate) / 1_000_000) as u32;
        let mut ts = self.timestamp_base.wrapping_add(ticks);
        if let Some(last) = self.last_timestamp
            && (ts.wrapping_sub(last) as i32) < step as i32
        {
            ts = last.wrapping_add(step);
        }
        self.last_timestamp = Some(ts);
        ts
    }
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    retries: u8,
    next: Instant,
}

/// Receive statistics and loss recovery for one remote SSRC.
#[derive(Debug)]
pub(crate) struct InStream {
    pub ssrc: u32,
    base: u64,
    highest: u64,
    received: u64,
    missing: BTreeMap<u64, Missing>,
    expected_prior: u64,
    received_prior: u64,
    last_sr: Option<(u32, Instant)>,
}

impl InStream {
    pub(crate) fn new(ssrc: u32, seq: u16) -> Self {
        // Start one cycle up so sequence numbers just below the first unwrap.
        let base = u64::from(seq) + (1 << 16);
        InStream {
            ssrc,
            base,
            highest: base - 1,
            received: 0,
            missing: BTreeMap::new(),
            expected_prior: 0,
            received_prior: 0,
            last_sr: None,
        }
    }

    fn extend(&self, seq: u16) -> u64 {
        let diff = i64::from(seq.wrapping_sub(self.highest as u16) as i16);
        (self.highest as i64 + diff).max(0) as u64
    }

    /// Records a packet (original or repaired); returns newly missing
    /// sequence numbers to NACK right away.
    pub(crate) fn on_packet(&mut self, now: Instant, seq: u16, nack: bool) -> Vec<u16> {
        let ext = self.extend(seq);
        self.received += 1;
        let mut lost = Vec::new();
        if ext > self.highest {
            let gap = ext - self.highest - 1;
            if gap > MAX_GAP {
                self.missing.clear();
            } else if nack {
                for s in self.highest + 1..ext {
                    if self.missing.len() >= MAX_MISSING {
                        self.missing.pop_first();
                    }
                    self.missing.insert(
                        s,
                        Missing {
                            retries: 0,
                            next: now + NACK_RETRY,
                        },
                    );
                    lost.push(s as u16);
                }
            }
            self.highest = ext;
        } else {
            self.missing.remove(&ext);
        }
        lost
    }

    /// Missing packets whose retry is due; gives up after [`NACK_RETRIES`].
    pub(crate) fn due_nacks(&mut self, now: Instant) -> Vec<u16> {
        let mut lost = Vec::new();
        self.missing.retain(|s, m| {
            if m.next > now {
                return true;
            }
            if m.retries >= NACK_RETRIES {
                return false;
            }
            m.retries += 1;
            m.next = now + NACK_RETRY;
            lost.push(*s as u16);
            true
        });
        lost
    }

    pub(crate) fn next_nack(&self) -> Option<Instant> {
        self.missing.values().map(|m| m.next).min()
    }

    pub(crate) fn on_sender_report(&mut self, now: Instant, ntp_middle: u32) {
        self.last_sr = Some((ntp_middle, now));
    }

    /// The reception report block for this SSRC (RFC 3550 §6.4.1, A.3).
    pub(crate) fn report(&mut self, now: Instant) -> ReportBlock {
        let expected = self.highest.saturating_sub(self.base) + 1;
        let lost = expected.saturating_sub(self.received);
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction_lost = (lost_interval << 8)
            .checked_div(expected_interval)
            .map_or(0, |f| f.min(255) as u8);
        let (lsr, dlsr) = match self.last_sr {
            Some((ntp, at)) => {
                let d = now.saturating_duration_since(at);
                (ntp, (d.as_micros() * 65_536 / 1_000_000) as u32)
            }
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: lost.min(u64::from(u32::MAX)) as u32,
            highest_seq: (self.highest.saturating_sub(1 << 16)) as u32,
            jitter: 0,
            lsr,
            dlsr,
        }
    }
}

/// A VP8 payload (RFC 7741) for packet `index` of `count` of one frame:
/// descriptor with a 15-bit PictureID, then on the first packet the VP8
/// payload header (P bit 0 for a key frame, with the key frame start code
/// and a 640x480 size).
pub(crate) fn vp8_payload(picture_id: u16, keyframe: bool, index: usize, size: usize) -> Vec<u8> {
    let start = index == 0;
    let mut p = vec![
        0x80 | if start { 0x10 } else { 0 },
        0x80,
        0x80 | ((picture_id >> 8) as u8 & 0x7f),
        picture_id as u8,
    ];
    if start {
        // size0 = 0, show_frame = 1, version = 0, P.
        p.push(0x10 | u8::from(!keyframe));
        p.extend_from_slice(&[0x00, 0x00]);
        if keyframe {
            p.extend_from_slice(&[0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
        }
    }
    while p.len() < size {
        p.push((p.len() as u8) ^ (picture_id as u8));
    }
    p
}

/// A 20 ms Opus packet (TOC: CELT fullband 20 ms, one frame) of `size` bytes.
pub(crate) fn opus_payload(counter: u32, size: usize) -> Vec<u8> {
    let mut p = vec![0xfc];
    while p.len() < size.max(2) {
        p.push((p.len() as u32 ^ counter) as u8);
    }
    p
}
