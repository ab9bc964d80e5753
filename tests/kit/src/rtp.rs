//! RTP (RFC 3550) and RTCP byte builders, written independently of the
//! project's own serializers so a test does not check the router with the
//! router's code.
//!
//! [`Rtp`] builds one packet; [`Rtcp`] holds one compound RTCP packet built
//! from [`Rtcp::sr`], [`Rtcp::rr`], [`Rtcp::nack`], [`Rtcp::pli`],
//! [`Rtcp::fir`] and [`Rtcp::remb`], joined in call order. Payload helpers
//! make the first bytes of VP8 (RFC 7741) and Opus payloads.

use bytes::Bytes;

/// An RTP packet under construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtp {
    ssrc: u32,
    payload_type: u8,
    seq: u16,
    timestamp: u32,
    marker: bool,
    extensions: Vec<(u8, Vec<u8>)>,
    padding: u8,
    payload: Vec<u8>,
}

impl Rtp {
    /// A packet with no marker, extensions, padding or payload.
    pub fn new(ssrc: u32, payload_type: u8, seq: u16, timestamp: u32) -> Self {
        Self {
            ssrc,
            payload_type,
            seq,
            timestamp,
            marker: false,
            extensions: Vec::new(),
            padding: 0,
            payload: Vec::new(),
        }
    }

    /// Sets the marker bit (last packet of a video frame).
    pub fn marker(mut self, marker: bool) -> Self {
        self.marker = marker;
        self
    }

    /// Adds header extension element `id` (RFC 8285). Elements use the
    /// one-byte form unless one of them needs the two-byte form (id above
    /// 14 or value longer than 16 bytes).
    pub fn extension(mut self, id: u8, value: &[u8]) -> Self {
        self.extensions.push((id, value.to_vec()));
        self
    }

    /// Adds elements `(id, value)` in order.
    pub fn extensions(mut self, elements: &[(u8, &[u8])]) -> Self {
        for (id, value) in elements {
            self.extensions.push((*id, value.to_vec()));
        }
        self
    }

    /// Appends `n` bytes of padding (the last one holds the count; `n` >= 1).
    pub fn padding(mut self, n: u8) -> Self {
        self.padding = n;
        self
    }

    /// Sets the payload.
    pub fn payload(mut self, payload: &[u8]) -> Self {
        self.payload = payload.to_vec();
        self
    }

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(12 + self.payload.len() + 64);
        let has_ext = !self.extensions.is_empty();
        p.push(0x80 | (u8::from(self.padding > 0) << 5) | (u8::from(has_ext) << 4));
        p.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7f));
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&self.timestamp.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        if has_ext {
            let one_byte = self
                .extensions
                .iter()
                .all(|(id, v)| (1..=14).contains(id) && (1..=16).contains(&v.len()));
            let start = p.len();
            p.extend_from_slice(if one_byte {
                &[0xBE, 0xDE]
            } else {
                &[0x10, 0x00]
            });
            p.extend_from_slice(&[0, 0]);
            for (id, v) in &self.extensions {
                if one_byte {
                    p.push((id << 4) | (v.len() as u8 - 1));
                } else {
                    p.push(*id);
                    p.push(v.len() as u8);
                }
                p.extend_from_slice(v);
            }
            while (p.len() - start) % 4 != 0 {
                p.push(0);
            }
            let words = ((p.len() - start - 4) / 4) as u16;
            p[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
        }
        p.extend_from_slice(&self.payload);
        if self.padding > 0 {
            p.extend(std::iter::repeat_n(0, usize::from(self.padding) - 1));
            p.push(self.padding);
        }
        p
    }

    /// The packet's bytes, shared.
    pub fn bytes(&self) -> Bytes {
        Bytes::from(self.build())
    }
}

/// The VP8 payload descriptor (RFC 7741 §4.2) of a packet: S=1, partition 0
/// on a frame's first packet, nothing else set.
pub fn vp8_descriptor(first_packet_of_frame: bool) -> u8 {
    if first_packet_of_frame { 0x10 } else { 0x00 }
}

/// The first bytes of a VP8 keyframe (RFC 6386 §9.1: frame tag with bit 0
/// clear, start code 9d 01 2a, 640x480), without payload descriptor.
pub const VP8_KEYFRAME_HEADER: [u8; 10] =
    [0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];

/// The 3-byte frame tag of a VP8 interframe (bit 0 set).
pub const VP8_INTERFRAME_TAG: [u8; 3] = [0x31, 0x2d, 0x01];

/// A one-packet VP8 RTP payload: descriptor (S=1), then a keyframe header or
/// interframe tag, then `body`.
pub fn vp8_payload(keyframe: bool, body: &[u8]) -> Vec<u8> {
    let mut p = vec![vp8_descriptor(true)];
    if keyframe {
        p.extend_from_slice(&VP8_KEYFRAME_HEADER);
    } else {
        p.extend_from_slice(&VP8_INTERFRAME_TAG);
    }
    p.extend_from_slice(body);
    p
}

/// An Opus payload: the TOC byte of a 20 ms CELT fullband mono frame
/// (config 31, RFC 6716 §3.1), then `body`.
pub fn opus_payload(body: &[u8]) -> Vec<u8> {
    let mut p = vec![0xF8];
    p.extend_from_slice(body);
    p
}

/// One receiver report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block is about.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24 bits).
    pub cumulative_lost: u32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter.
    pub jitter: u32,
    /// Middle 32 bits of the last SR's NTP time.
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

impl ReportBlock {
    /// A block about `ssrc` with every field zero.
    pub fn new(ssrc: u32) -> Self {
        Self {
            ssrc,
            ..Self::default()
        }
    }

    fn write(&self, p: &mut Vec<u8>) {
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.push(self.fraction_lost);
        p.extend_from_slice(&self.cumulative_lost.to_be_bytes()[1..]);
        p.extend_from_slice(&self.highest_seq.to_be_bytes());
        p.extend_from_slice(&self.jitter.to_be_bytes());
        p.extend_from_slice(&self.lsr.to_be_bytes());
        p.extend_from_slice(&self.dlsr.to_be_bytes());
    }
}

/// A compound RTCP packet under construction: each method appends one
/// packet, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rtcp {
    bytes: Vec<u8>,
}

impl Rtcp {
    /// An empty compound.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a packet: header (count/FMT, type, length) then `body`,
    /// which must be a multiple of 4 bytes.
    fn push(mut self, count: u8, packet_type: u8, body: &[u8]) -> Self {
        debug_assert_eq!(body.len() % 4, 0);
        self.bytes.push(0x80 | (count & 0x1f));
        self.bytes.push(packet_type);
        self.bytes
            .extend_from_slice(&((body.len() / 4) as u16).to_be_bytes());
        self.bytes.extend_from_slice(body);
        self
    }

    /// A sender report (PT 200) without report blocks; packet and octet
    /// counts zero.
    pub fn sr(self, ssrc: u32, ntp: u64, rtp_timestamp: u32) -> Self {
        self.sr_with(ssrc, ntp, rtp_timestamp, 0, 0, &[])
    }

    /// A sender report with counts and report blocks.
    pub fn sr_with(
        self,
        ssrc: u32,
        ntp: u64,
        rtp_timestamp: u32,
        packets: u32,
        octets: u32,
        blocks: &[ReportBlock],
    ) -> Self {
        let mut b = Vec::with_capacity(24 + 24 * blocks.len());
        b.extend_from_slice(&ssrc.to_be_bytes());
        b.extend_from_slice(&ntp.to_be_bytes());
        b.extend_from_slice(&rtp_timestamp.to_be_bytes());
        b.extend_from_slice(&packets.to_be_bytes());
        b.extend_from_slice(&octets.to_be_bytes());
        for block in blocks {
            block.write(&mut b);
        }
        self.push(blocks.len() as u8, 200, &b)
    }

    /// A receiver report (PT 201) from `sender` with these blocks.
    pub fn rr(self, sender: u32, blocks: &[ReportBlock]) -> Self {
        let mut b = Vec::with_capacity(4 + 24 * blocks.len());
        b.extend_from_slice(&sender.to_be_bytes());
        for block in blocks {
            block.write(&mut b);
        }
        self.push(blocks.len() as u8, 201, &b)
    }

    /// A generic NACK (RFC 4585 §6.2.1, PT 205 FMT 1) about `media`, one
    /// FCI entry per `(PID, BLP)` pair.
    pub fn nack(self, sender: u32, media: u32, pairs: &[(u16, u16)]) -> Self {
        let mut b = Vec::with_capacity(8 + 4 * pairs.len());
        b.extend_from_slice(&sender.to_be_bytes());
        b.extend_from_slice(&media.to_be_bytes());
        for (pid, blp) in pairs {
            b.extend_from_slice(&pid.to_be_bytes());
            b.extend_from_slice(&blp.to_be_bytes());
        }
        self.push(1, 205, &b)
    }

    /// A Picture Loss Indication (RFC 4585 §6.3.1, PT 206 FMT 1).
    pub fn pli(self, sender: u32, media: u32) -> Self {
        let mut b = Vec::with_capacity(8);
        b.extend_from_slice(&sender.to_be_bytes());
        b.extend_from_slice(&media.to_be_bytes());
        self.push(1, 206, &b)
    }

    /// A Full Intra Request (RFC 5104 §4.3.1, PT 206 FMT 4) for `media` with
    /// command sequence number `seq`.
    pub fn fir(self, sender: u32, media: u32, seq: u8) -> Self {
        let mut b = Vec::with_capacity(16);
        b.extend_from_slice(&sender.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&media.to_be_bytes());
        b.extend_from_slice(&[seq, 0, 0, 0]);
        self.push(4, 206, &b)
    }

    /// A REMB (draft-alvestrand-rmcat-remb, PT 206 FMT 15) of `bitrate`
    /// bits/s about `ssrcs`.
    pub fn remb(self, sender: u32, bitrate: u64, ssrcs: &[u32]) -> Self {
        // 18-bit mantissa, 6-bit exponent.
        let mut exp = 0u32;
        while bitrate >> exp > 0x3_FFFF {
            exp += 1;
        }
        let mantissa = (bitrate >> exp) as u32;
        let mut b = Vec::with_capacity(16 + 4 * ssrcs.len());
        b.extend_from_slice(&sender.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(b"REMB");
        b.push(ssrcs.len() as u8);
        b.push(((exp << 2) | (mantissa >> 16)) as u8);
        b.extend_from_slice(&(mantissa as u16).to_be_bytes());
        for ssrc in ssrcs {
            b.extend_from_slice(&ssrc.to_be_bytes());
        }
        self.push(15, 206, &b)
    }

    /// Appends another compound's packets.
    pub fn join(mut self, other: &Rtcp) -> Self {
        self.bytes.extend_from_slice(&other.bytes);
        self
    }

    /// The compound's bytes.
    pub fn build(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The compound's bytes, shared.
    pub fn bytes(&self) -> Bytes {
        Bytes::from(self.bytes.clone())
    }
}

/// The packets of a compound RTCP packet, as (packet type, count or FMT,
/// body after the 4-byte header); stops at the first truncated packet.
pub fn rtcp_packets(data: &[u8]) -> Vec<(u8, u8, &[u8])> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(header) = rest.get(..4) {
        let len = 4 * (1 + usize::from(u16::from_be_bytes([header[2], header[3]])));
        let Some(p) = rest.get(..len) else { break };
        out.push((p[1], p[0] & 0x1f, &p[4..]));
        rest = &rest[len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_header_fields_land_where_rfc_3550_puts_them() {
        let p = Rtp::new(0x1122_3344, 96, 0xABCD, 0x0102_0304)
            .marker(true)
            .payload(&[9, 9])
            .build();
        assert_eq!(
            p,
            [
                0x80, 0xE0, 0xAB, 0xCD, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 9, 9
            ]
        );
    }

    #[test]
    fn one_byte_extensions_are_padded_to_a_word() {
        let p = Rtp::new(1, 96, 0, 0).extension(3, &[0xAA, 0xBB]).build();
        assert_eq!(p[0], 0x90);
        assert_eq!(&p[12..20], &[0xBE, 0xDE, 0, 1, 0x31, 0xAA, 0xBB, 0]);
        let p = Rtp::new(1, 96, 0, 0).extension(15, &[1]).build();
        assert_eq!(&p[12..20], &[0x10, 0x00, 0, 1, 15, 1, 1, 0]);
    }

    #[test]
    fn padding_ends_with_its_count() {
        let p = Rtp::new(1, 96, 0, 0).payload(&[7]).padding(3).build();
        assert_eq!(p[0], 0xA0);
        assert_eq!(&p[12..], &[7, 0, 0, 3]);
    }

    #[test]
    fn rtcp_lengths_are_in_words_minus_one() {
        let c = Rtcp::new()
            .sr(1, 2, 3)
            .rr(1, &[ReportBlock::new(5)])
            .nack(1, 5, &[(10, 0b101)])
            .pli(1, 5)
            .fir(1, 5, 7)
            .remb(1, 1_000_000, &[5]);
        let bytes = c.build();
        let packets = rtcp_packets(&bytes);
        let kinds: Vec<(u8, u8, usize)> =
            packets.iter().map(|(t, f, b)| (*t, *f, b.len())).collect();
        assert_eq!(
            kinds,
            [
                (200, 0, 24),
                (201, 1, 28),
                (205, 1, 12),
                (206, 1, 8),
                (206, 4, 16),
                (206, 15, 20)
            ]
        );
    }
}
