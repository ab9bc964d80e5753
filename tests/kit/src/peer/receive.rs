//! Receiving: SRTP decryption, RTX decoding, the record of received
//! packets, and the browser-like receiver that NACKs gaps and reports.

use std::time::Instant;

use super::media::{InStream, ReceivedRtp};
use super::rtp;
use super::sdp::uri;
use super::{MAX_IN_STREAMS, MAX_RECEIVED, Peer};

impl Peer {
    /// The mid header extension id the SFU uses (bundle-wide).
    fn mid_extension(&self) -> Option<u8> {
        self.sections.iter().find_map(|s| s.extension(uri::MID))
    }

    /// Whether `mid` negotiated generic NACK for payload type `pt`.
    fn nack_negotiated(&self, mid: Option<&str>, pt: u8) -> bool {
        let Some(section) = mid.and_then(|m| self.section(m)) else {
            return false;
        };
        section
            .negotiated
            .iter()
            .find(|c| c.pt == pt)
            .is_some_and(|c| c.feedback.iter().any(|f| f == "nack"))
    }

    /// Whether payload type `pt` is an RTX format on `mid`; returns the
    /// payload type it repairs.
    fn rtx_apt(&self, mid: Option<&str>, pt: u8) -> Option<u8> {
        let section = self.section(mid?)?;
        section
            .negotiated
            .iter()
            .find(|c| c.pt == pt && c.is_rtx())
            .and_then(|c| c.apt())
    }

    /// An SRTP datagram from the SFU.
    pub(super) fn receive_rtp(&mut self, now: Instant, data: &[u8]) {
        let Some(srtp) = self.security.0.srtp.as_mut() else {
            self.stats.decrypt_failures += 1;
            return;
        };
        let Ok(plain) = srtp.rx.decrypt_rtp(data) else {
            self.stats.decrypt_failures += 1;
            return;
        };
        let Some(packet) = rtp::read(&plain) else {
            self.stats.decrypt_failures += 1;
            return;
        };
        let mid = packet
            .extension(self.mid_extension())
            .and_then(|m| std::str::from_utf8(m).ok())
            .filter(|m| self.section(m).is_some())
            .map(str::to_owned)
            .or_else(|| self.ssrc_mids.get(&packet.ssrc).cloned());
        let rtx_primary = self.rtx_primaries.get(&packet.ssrc).copied();
        let apt = self.rtx_apt(mid.as_deref(), packet.pt);
        let is_rtx = rtx_primary.is_some() || apt.is_some();
        let (ssrc, seq, payload) = if is_rtx {
            let (Some(osn), Some(rest)) = (packet.payload.get(..2), packet.payload.get(2..)) else {
                self.stats.rtx_padding_received += 1;
                return;
            };
            let osn = u16::from_be_bytes([osn[0], osn[1]]);
            (rtx_primary.unwrap_or(packet.ssrc), osn, rest)
        } else {
            (packet.ssrc, packet.seq, packet.payload)
        };
        let media_pt = apt.unwrap_or(packet.pt);
        let nack = self.nack_negotiated(mid.as_deref(), media_pt);
        if !self.in_streams.contains_key(&ssrc) && self.in_streams.len() < MAX_IN_STREAMS {
            self.in_streams
                .insert(ssrc, (mid.clone(), InStream::new(ssrc, seq)));
        }
        let lost = match self.in_streams.get_mut(&ssrc) {
            Some((known_mid, stream)) => {
                if known_mid.is_none() {
                    known_mid.clone_from(&mid);
                }
                stream.on_packet(now, seq, nack)
            }
            None => Vec::new(),
        };
        if !lost.is_empty() {
            self.send_nack(ssrc, &lost);
        }
        self.stats.rtp_received += 1;
        if is_rtx {
            self.stats.rtx_received += 1;
        }
        if self.received.len() >= MAX_RECEIVED {
            self.received.pop_front();
            self.stats.received_dropped += 1;
        }
        self.received.push_back(ReceivedRtp {
            at: now,
            mid,
            ssrc,
            pt: packet.pt,
            seq,
            timestamp: packet.timestamp,
            marker: packet.marker,
            payload: payload.to_vec(),
            rtx: is_rtx,
        });
    }

    fn send_nack(&mut self, media: u32, lost: &[u16]) {
        for chunk in lost.chunks(64) {
            let nack = rtp::nack(self.rtcp_ssrc, media, chunk);
            self.send_rtcp(&nack);
            self.stats.nacks_sent += 1;
            self.stats.nacked_packets += chunk.len() as u64;
        }
    }

    /// NACKs again what is still missing and due.
    pub(super) fn retry_nacks(&mut self, now: Instant) {
        let due: Vec<(u32, Vec<u16>)> = self
            .in_streams
            .iter_mut()
            .map(|(ssrc, (_, s))| (*ssrc, s.due_nacks(now)))
            .filter(|(_, lost)| !lost.is_empty())
            .collect();
        for (ssrc, lost) in due {
            self.send_nack(ssrc, &lost);
        }
    }

    /// Each second: a sender report per sending SSRC that sent something,
    /// and one receiver report with a block per received SSRC (up to 31),
    /// in one compound packet.
    pub(super) fn send_reports(&mut self, now: Instant) {
        // NTP time: a fixed epoch plus the peer's simulated time.
        let elapsed = now.saturating_duration_since(self.start);
        let ntp = (3_900_000_000u64 << 32) + ((elapsed.as_micros() << 32) / 1_000_000) as u64;
        let mut compound = Vec::new();
        for section in &self.sections {
            let clock_rate = section.media_codec().map_or(90_000, |c| c.clock_rate);
            for o in &section.out {
                let Some((ts, at)) = o.last_sent else {
                    continue;
                };
                let since = now.saturating_duration_since(at);
                let ticks = (since.as_micros() * u128::from(clock_rate) / 1_000_000) as u32;
                compound.extend(rtp::sender_report(
                    o.ssrc,
                    ntp,
                    ts.wrapping_add(ticks),
                    o.packets_sent,
                    o.octets_sent,
                ));
                self.stats.sender_reports_sent += 1;
            }
        }
        if !self.in_streams.is_empty() {
            let blocks: Vec<rtp::ReportBlock> = self
                .in_streams
                .values_mut()
                .take(31)
                .map(|(_, s)| s.report(now))
                .collect();
            compound.extend(rtp::receiver_report(self.rtcp_ssrc, &blocks));
            self.stats.receiver_reports_sent += 1;
        }
        if !compound.is_empty() {
            self.send_rtcp(&compound);
        }
    }
}
