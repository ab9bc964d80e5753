//! RTP (RFC 3550, one-byte header extensions RFC 8285) and the RTCP the
//! peer speaks: receiver reports, generic NACK (RFC 4585), PLI and FIR
//! (RFC 5104). Plain byte layouts, read with checked access.

/// An RTP header as the peer writes it.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// One-byte-header extensions: id 1..=14, 1..=16 bytes each.
    pub extensions: Vec<(u8, Vec<u8>)>,
}

/// Writes an RTP packet.
pub(crate) fn write(h: &Header, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + 24 + payload.len());
    let x = if h.extensions.is_empty() { 0 } else { 0x10 };
    p.push(0x80 | x);
    p.push((u8::from(h.marker) << 7) | (h.pt & 0x7f));
    p.extend_from_slice(&h.seq.to_be_bytes());
    p.extend_from_slice(&h.timestamp.to_be_bytes());
    p.extend_from_slice(&h.ssrc.to_be_bytes());
    if !h.extensions.is_empty() {
        let mut body = Vec::new();
        for (id, data) in &h.extensions {
            let len = data.len().clamp(1, 16);
            body.push((id << 4) | (len as u8 - 1));
            body.extend(data.iter().take(len));
        }
        while body.len() % 4 != 0 {
            body.push(0);
        }
        p.extend_from_slice(&[0xbe, 0xde]);
        p.extend_from_slice(&((body.len() / 4) as u16).to_be_bytes());
        p.extend_from_slice(&body);
    }
    p.extend_from_slice(payload);
    p
}

/// An RTP packet as read.
#[derive(Debug, Clone)]
pub(crate) struct Packet<'a> {
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub extensions: Vec<(u8, &'a [u8])>,
    pub payload: &'a [u8],
}

impl Packet<'_> {
    pub(crate) fn extension(&self, id: Option<u8>) -> Option<&[u8]> {
        let id = id?;
        self.extensions
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, d)| *d)
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Reads an RTP packet (one- and two-byte extension headers, padding).
pub(crate) fn read(p: &[u8]) -> Option<Packet<'_>> {
    let b0 = *p.first()?;
    let b1 = *p.get(1)?;
    if b0 >> 6 != 2 {
        return None;
    }
    let mut end = p.len();
    if b0 & 0x20 != 0 {
        let pad = usize::from(*p.last()?);
        end = end.checked_sub(pad)?;
    }
    let mut at = 12 + 4 * usize::from(b0 & 0x0f);
    let mut extensions = Vec::new();
    if b0 & 0x10 != 0 {
        let profile = u16_at(p, at)?;
        let len = 4 * usize::from(u16_at(p, at + 2)?);
        let body = p.get(at + 4..at + 4 + len)?;
        at += 4 + len;
        let mut i = 0;
        while i < body.len() {
            let (id, n, head) = if profile == 0xbede {
                let b = *body.get(i)?;
                if b == 0 {
                    i += 1;
                    continue;
                }
                (b >> 4, usize::from(b & 0x0f) + 1, 1)
            } else if profile & 0xfff0 == 0x1000 {
                let id = *body.get(i)?;
                if id == 0 {
                    i += 1;
                    continue;
                }
                (id, usize::from(*body.get(i + 1)?), 2)
            } else {
                break;
            };
            if id == 15 {
                break;
            }
            extensions.push((id, body.get(i + head..i + head + n)?));
            i += head + n;
        }
    }
    Some(Packet {
        pt: b1 & 0x7f,
        marker: b1 & 0x80 != 0,
        seq: u16_at(p, 2)?,
        timestamp: u32_at(p, 4)?,
        ssrc: u32_at(p, 8)?,
        extensions,
        payload: p.get(at..end)?,
    })
}

fn rtcp_header(fmt: u8, pt: u8, words_after_header: usize) -> Vec<u8> {
    let mut p = vec![0x80 | (fmt & 0x1f), pt];
    p.extend_from_slice(&(words_after_header as u16).to_be_bytes());
    p
}

/// A generic NACK (RTPFB FMT 1) for `lost` (any order, duplicates allowed).
pub(crate) fn nack(sender: u32, media: u32, lost: &[u16]) -> Vec<u8> {
    let mut seqs = lost.to_vec();
    seqs.sort_by_key(|s| s.wrapping_sub(lost.first().copied().unwrap_or(0)));
    seqs.dedup();
    let mut fci: Vec<(u16, u16)> = Vec::new();
    for s in seqs {
        match fci.last_mut() {
            Some((pid, blp)) if s.wrapping_sub(*pid) >= 1 && s.wrapping_sub(*pid) <= 16 => {
                *blp |= 1 << (s.wrapping_sub(*pid) - 1);
            }
            _ => fci.push((s, 0)),
        }
    }
    let mut p = rtcp_header(1, 205, 2 + fci.len());
    p.extend_from_slice(&sender.to_be_bytes());
    p.extend_from_slice(&media.to_be_bytes());
    for (pid, blp) in fci {
        p.extend_from_slice(&pid.to_be_bytes());
        p.extend_from_slice(&blp.to_be_bytes());
    }
    p
}

/// A picture loss indication (PSFB FMT 1).
pub(crate) fn pli(sender: u32, media: u32) -> Vec<u8> {
    let mut p = rtcp_header(1, 206, 2);
    p.extend_from_slice(&sender.to_be_bytes());
    p.extend_from_slice(&media.to_be_bytes());
    p
}

/// A sender report without report blocks (RFC 3550 §6.4.1).
pub(crate) fn sender_report(
    ssrc: u32,
    ntp: u64,
    rtp_timestamp: u32,
    packets: u32,
    octets: u32,
) -> Vec<u8> {
    let mut p = rtcp_header(0, 200, 6);
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&ntp.to_be_bytes());
    for v in [rtp_timestamp, packets, octets] {
        p.extend_from_slice(&v.to_be_bytes());
    }
    p
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    pub cumulative_lost: u32,
    pub highest_seq: u32,
    pub jitter: u32,
    pub lsr: u32,
    pub dlsr: u32,
}

/// A receiver report with up to 31 blocks.
pub(crate) fn receiver_report(sender: u32, blocks: &[ReportBlock]) -> Vec<u8> {
    let blocks = blocks.get(..blocks.len().min(31)).unwrap_or_default();
    let mut p = rtcp_header(blocks.len() as u8, 201, 1 + 6 * blocks.len());
    p.extend_from_slice(&sender.to_be_bytes());
    for b in blocks {
        p.extend_from_slice(&b.ssrc.to_be_bytes());
        let lost = b.cumulative_lost.min(0x7f_ffff);
        p.push(b.fraction_lost);
        p.extend_from_slice(&lost.to_be_bytes()[1..]);
        for v in [b.highest_seq, b.jitter, b.lsr, b.dlsr] {
            p.extend_from_slice(&v.to_be_bytes());
        }
    }
    p
}

/// What the peer reads from the SFU's RTCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Feedback {
    /// Generic NACK for these sequence numbers of `media`.
    Nack { media: u32, lost: Vec<u16> },
    /// Picture loss indication.
    Pli { media: u32 },
    /// Full intra request.
    Fir { media: u32 },
    /// A sender report: its SSRC and the middle 32 bits of its NTP time.
    SenderReport { ssrc: u32, ntp_middle: u32 },
    /// Anything else (receiver reports, transport-cc, REMB, SDES, BYE...).
    Other,
}

/// Reads each packet of a compound (or reduced-size) RTCP packet.
pub(crate) fn read_rtcp(mut p: &[u8]) -> Vec<Feedback> {
    let mut out = Vec::new();
    while p.len() >= 4 && out.len() < 64 {
        let (Some(&b0), Some(&pt)) = (p.first(), p.get(1)) else {
            break;
        };
        let Some(words) = u16_at(p, 2) else { break };
        let len = 4 * (usize::from(words) + 1);
        let Some(packet) = p.get(..len) else { break };
        p = p.get(len..).unwrap_or_default();
        let fmt = b0 & 0x1f;
        let item = match (pt, fmt) {
            (205, 1) => u32_at(packet, 8).map(|media| {
                let mut lost = Vec::new();
                let mut at = 12;
                while let (Some(pid), Some(blp)) = (u16_at(packet, at), u16_at(packet, at + 2)) {
                    lost.push(pid);
                    for bit in 0..16u16 {
                        if blp & (1 << bit) != 0 {
                            lost.push(pid.wrapping_add(bit + 1));
                        }
                    }
                    at += 4;
                }
                Feedback::Nack { media, lost }
            }),
            (206, 1) => u32_at(packet, 8).map(|media| Feedback::Pli { media }),
            (206, 4) => u32_at(packet, 12).map(|media| Feedback::Fir { media }),
            (200, _) => u32_at(packet, 4).and_then(|ssrc| {
                let hi = u32_at(packet, 8)?;
                let lo = u32_at(packet, 12)?;
                Some(Feedback::SenderReport {
                    ssrc,
                    ntp_middle: (hi << 16) | (lo >> 16),
                })
            }),
            _ => Some(Feedback::Other),
        };
        out.push(item.unwrap_or(Feedback::Other));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nack_packs_pid_and_blp_and_reads_back() {
        let lost = [100u16, 101, 116, 117, 300];
        let p = nack(1, 2, &lost);
        // Header + sender + media + three FCI entries.
        assert_eq!(p.len(), 12 + 3 * 4);
        assert_eq!(&p[12..16], &[0, 100, 0x80, 0x01]);
        let read = read_rtcp(&p);
        assert_eq!(
            read,
            vec![Feedback::Nack {
                media: 2,
                lost: lost.to_vec()
            }]
        );
    }

    #[test]
    fn rtp_with_one_byte_extensions_round_trips() {
        let h = Header {
            pt: 96,
            marker: true,
            seq: 65535,
            timestamp: 7,
            ssrc: 9,
            extensions: vec![(4, b"1".to_vec()), (10, b"hq".to_vec()), (3, vec![0, 5])],
        };
        let p = write(&h, &[1, 2, 3]);
        let r = read(&p).unwrap();
        assert_eq!(
            (r.pt, r.marker, r.seq, r.timestamp, r.ssrc),
            (96, true, 65535, 7, 9)
        );
        assert_eq!(r.extension(Some(10)), Some(&b"hq"[..]));
        assert_eq!(r.extension(Some(3)), Some(&[0, 5][..]));
        assert_eq!(r.payload, &[1, 2, 3]);
    }

    #[test]
    fn compound_rtcp_reads_every_packet() {
        let mut p = receiver_report(5, &[]);
        p.extend(pli(5, 6));
        assert_eq!(
            read_rtcp(&p),
            vec![Feedback::Other, Feedback::Pli { media: 6 }]
        );
    }
}
