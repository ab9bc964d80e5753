//! Sending: RTP for the peer's sending sections, retransmissions from the
//! send history, and the SFU's feedback (NACK, PLI, FIR, SR) that drives them.

use std::time::Instant;

use super::media::{SentPacket, opus_payload, vp8_payload};
use super::rtp::{self, Feedback, Header};
use super::sdp::uri;
use super::{Peer, PeerError};

/// Payload bytes per VP8 packet the helpers generate.
const VP8_PACKET_BYTES: usize = 1000;
/// Payload bytes per Opus packet the helpers generate.
const OPUS_PACKET_BYTES: usize = 80;

impl Peer {
    /// Index of the sending section `mid` and of its stream for `rid`.
    fn stream_index(&self, mid: &str, rid: Option<&str>) -> Result<(usize, usize), PeerError> {
        if self.closed {
            return Err(PeerError::Closed);
        }
        let i = self
            .sections
            .iter()
            .position(|s| s.local.mid == mid)
            .ok_or_else(|| PeerError::UnknownMid(mid.to_owned()))?;
        let section = self.sections.get(i).ok_or(PeerError::Closed)?;
        if !section.sends() || section.media_codec().is_none() || section.out.is_empty() {
            return Err(PeerError::NotSending(mid.to_owned()));
        }
        let j = match rid {
            None if section.local.rids.is_empty() => 0,
            None => return Err(PeerError::UnknownRid(String::new())),
            Some(rid) => section
                .out
                .iter()
                .position(|o| o.rid.as_deref() == Some(rid))
                .ok_or_else(|| PeerError::UnknownRid(rid.to_owned()))?,
        };
        if self.security.0.srtp.is_none() {
            return Err(PeerError::NotConnected);
        }
        Ok((i, j))
    }

    fn next_transport_cc(&mut self) -> Vec<u8> {
        self.transport_cc_seq = self.transport_cc_seq.wrapping_add(1);
        self.transport_cc_seq.to_be_bytes().to_vec()
    }

    /// Header extensions for a packet of section `i`: mid, rid (or
    /// repaired-rid for RTX), transport-cc, as negotiated.
    fn extensions(&mut self, i: usize, rid: Option<&str>, rtx: bool) -> Vec<(u8, Vec<u8>)> {
        let Some(section) = self.sections.get(i) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(id) = section.extension(uri::MID) {
            out.push((id, section.local.mid.as_bytes().to_vec()));
        }
        let rid_uri = if rtx { uri::REPAIRED_RID } else { uri::RID };
        if let (Some(id), Some(rid)) = (section.extension(rid_uri), rid) {
            out.push((id, rid.as_bytes().to_vec()));
        }
        if let Some(id) = section.extension(uri::TRANSPORT_CC) {
            let seq = self.next_transport_cc();
            out.push((id, seq));
        }
        out
    }

    fn protect_and_queue(&mut self, packet: &[u8]) -> Result<(), PeerError> {
        let to = self.ice.remote.ok_or(PeerError::NotConnected)?;
        let srtp = self
            .security
            .0
            .srtp
            .as_mut()
            .ok_or(PeerError::NotConnected)?;
        let wire = srtp
            .tx
            .encrypt_rtp(packet)
            .map_err(|e| PeerError::Srtp(e.to_string()))?;
        self.queue(to, wire.to_vec());
        Ok(())
    }

    pub(super) fn send_rtcp(&mut self, packet: &[u8]) {
        let Some(to) = self.ice.remote else { return };
        let Some(srtp) = self.security.0.srtp.as_mut() else {
            return;
        };
        if let Ok(wire) = srtp.tx.encrypt_rtcp(packet) {
            self.stats.rtcp_sent += 1;
            self.queue(to, wire.to_vec());
        }
    }

    /// Encrypts `compound` (any RTCP the test builds, valid or hostile) as
    /// SRTCP and queues it toward the SFU: what an authenticated but
    /// hostile client can send.
    pub fn send_rtcp_compound(&mut self, compound: &[u8]) -> Result<(), PeerError> {
        if self.ice.remote.is_none() || self.security.0.srtp.is_none() {
            return Err(PeerError::NotConnected);
        }
        self.send_rtcp(compound);
        Ok(())
    }

    /// Sends one RTP packet on the sending section `mid` (and simulcast
    /// layer `rid`): the peer picks SSRC, payload type and sequence number,
    /// writes the mid / rid / transport-cc extensions as negotiated,
    /// remembers it for NACKs, encrypts and queues it.
    pub fn send_media(
        &mut self,
        now: Instant,
        mid: &str,
        rid: Option<&str>,
        marker: bool,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<(), PeerError> {
        self.now = now;
        let (i, j) = self.stream_index(mid, rid)?;
        let extensions = self.extensions(i, rid, false);
        let section = self.sections.get_mut(i).ok_or(PeerError::Closed)?;
        let pt = section.media_codec().map(|c| c.pt).unwrap_or_default();
        let stream = section.out.get_mut(j).ok_or(PeerError::Closed)?;
        let seq = stream.next_seq;
        stream.next_seq = seq.wrapping_add(1);
        let header = Header {
            pt,
            marker,
            seq,
            timestamp,
            ssrc: stream.ssrc,
            extensions,
        };
        stream.count(now, timestamp, payload.len());
        stream.remember(SentPacket {
            seq,
            timestamp,
            marker,
            payload: payload.to_vec(),
        });
        self.protect_and_queue(&rtp::write(&header, payload))?;
        self.stats.rtp_sent += 1;
        Ok(())
    }

    /// Sends one VP8 frame of `packets` packets (at least one) on `mid`/`rid`:
    /// valid VP8 payload descriptors (PictureID, S bit on the first packet),
    /// on a key frame P = 0 in the payload header and the key frame start
    /// code, the marker on the last packet, a 90 kHz timestamp that follows
    /// `now`. A key frame clears [`keyframe_requested_on`](Self::keyframe_requested_on).
    pub fn send_vp8_frame(
        &mut self,
        now: Instant,
        mid: &str,
        rid: Option<&str>,
        keyframe: bool,
        packets: usize,
    ) -> Result<(), PeerError> {
        let (i, j) = self.stream_index(mid, rid)?;
        let elapsed = now.saturating_duration_since(self.start);
        let section = self.sections.get_mut(i).ok_or(PeerError::Closed)?;
        if keyframe {
            section.keyframe_requested = false;
        }
        let stream = section.out.get_mut(j).ok_or(PeerError::Closed)?;
        let timestamp = stream.timestamp(elapsed, 90_000, 3000);
        let picture_id = stream.picture_id;
        stream.picture_id = (picture_id + 1) & 0x7fff;
        let count = packets.max(1);
        for k in 0..count {
            let payload = vp8_payload(picture_id, keyframe, k, VP8_PACKET_BYTES);
            self.send_media(now, mid, rid, k + 1 == count, timestamp, &payload)?;
        }
        Ok(())
    }

    /// Sends one 20 ms Opus packet on `mid`, with a 48 kHz timestamp that follows `now`.
    pub fn send_opus(&mut self, now: Instant, mid: &str) -> Result<(), PeerError> {
        let (i, j) = self.stream_index(mid, None)?;
        let elapsed = now.saturating_duration_since(self.start);
        let section = self.sections.get_mut(i).ok_or(PeerError::Closed)?;
        section.opus_counter = section.opus_counter.wrapping_add(1);
        let counter = section.opus_counter;
        let stream = section.out.get_mut(j).ok_or(PeerError::Closed)?;
        let timestamp = stream.timestamp(elapsed, 48_000, 960);
        let payload = opus_payload(counter, OPUS_PACKET_BYTES);
        self.send_media(now, mid, None, false, timestamp, &payload)
    }

    /// Sends a PLI for the SSRC the peer receives on `mid`.
    pub fn request_keyframe(&mut self, now: Instant, mid: &str) -> Result<(), PeerError> {
        self.now = now;
        if self.closed {
            return Err(PeerError::Closed);
        }
        let section = self
            .section(mid)
            .ok_or_else(|| PeerError::UnknownMid(mid.to_owned()))?;
        let media = section
            .remote_streams
            .first()
            .map(|(p, _)| *p)
            .or_else(|| {
                self.in_streams
                    .iter()
                    .find(|(_, (m, _))| m.as_deref() == Some(mid))
                    .map(|(ssrc, _)| *ssrc)
            })
            .ok_or_else(|| PeerError::NothingReceived(mid.to_owned()))?;
        if self.security.0.srtp.is_none() {
            return Err(PeerError::NotConnected);
        }
        let pli = rtp::pli(self.rtcp_ssrc, media);
        self.send_rtcp(&pli);
        self.stats.plis_sent += 1;
        Ok(())
    }

    /// Retransmits `seq` of the stream whose media SSRC is `ssrc`.
    fn retransmit(&mut self, ssrc: u32, seq: u16) {
        let found = self.sections.iter().enumerate().find_map(|(i, s)| {
            let j = s.out.iter().position(|o| o.ssrc == ssrc)?;
            Some((i, j))
        });
        let Some((i, j)) = found else {
            self.stats.nacks_unanswerable += 1;
            return;
        };
        let Some(section) = self.sections.get(i) else {
            return;
        };
        let rtx_pt = section.rtx_pt();
        let media_pt = section.media_codec().map(|c| c.pt).unwrap_or_default();
        let Some(stream) = section.out.get(j) else {
            return;
        };
        let Some(sent) = stream.sent(seq).cloned() else {
            self.stats.nacks_unanswerable += 1;
            return;
        };
        let rid = stream.rid.clone();
        let rtx = rtx_pt.zip(stream.rtx_ssrc);
        let extensions = self.extensions(i, rid.as_deref(), rtx.is_some());
        let Some(stream) = self.sections.get_mut(i).and_then(|s| s.out.get_mut(j)) else {
            return;
        };
        let packet = match rtx {
            Some((pt, rtx_ssrc)) => {
                let rtx_seq = stream.next_rtx_seq;
                stream.next_rtx_seq = rtx_seq.wrapping_add(1);
                let mut payload = seq.to_be_bytes().to_vec();
                payload.extend_from_slice(&sent.payload);
                let header = Header {
                    pt,
                    marker: sent.marker,
                    seq: rtx_seq,
                    timestamp: sent.timestamp,
                    ssrc: rtx_ssrc,
                    extensions,
                };
                rtp::write(&header, &payload)
            }
            None => {
                let header = Header {
                    pt: media_pt,
                    marker: sent.marker,
                    seq,
                    timestamp: sent.timestamp,
                    ssrc,
                    extensions,
                };
                rtp::write(&header, &sent.payload)
            }
        };
        if self.protect_and_queue(&packet).is_ok() {
            if rtx.is_some() {
                self.stats.rtx_sent += 1;
            } else {
                self.stats.retransmissions_sent += 1;
            }
        }
    }

    /// An SRTCP datagram from the SFU.
    pub(super) fn receive_rtcp(&mut self, now: Instant, data: &[u8]) {
        let Some(srtp) = self.security.0.srtp.as_mut() else {
            self.stats.decrypt_failures += 1;
            return;
        };
        let Ok(plain) = srtp.rx.decrypt_rtcp(data) else {
            self.stats.decrypt_failures += 1;
            return;
        };
        self.stats.rtcp_received += 1;
        for feedback in rtp::read_rtcp(&plain) {
            match feedback {
                Feedback::Nack { media, lost } => {
                    self.stats.nacks_received += 1;
                    for seq in lost {
                        self.retransmit(media, seq);
                    }
                }
                Feedback::Pli { media } | Feedback::Fir { media } => {
                    if matches!(feedback, Feedback::Pli { .. }) {
                        self.stats.plis_received += 1;
                    } else {
                        self.stats.firs_received += 1;
                    }
                    if let Some(s) = self
                        .sections
                        .iter_mut()
                        .find(|s| s.out.iter().any(|o| o.ssrc == media))
                    {
                        s.keyframe_requested = true;
                    }
                }
                Feedback::SenderReport { ssrc, ntp_middle } => {
                    if let Some((_, s)) = self.in_streams.get_mut(&ssrc) {
                        s.on_sender_report(now, ntp_middle);
                    }
                }
                Feedback::Other => {}
            }
        }
    }
}
