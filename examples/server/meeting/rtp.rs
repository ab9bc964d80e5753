//! Just enough RTP for the Rust member: a packet's header fields and
//! payload, writing a plain packet, and VP8 frames from their packets
//! (RFC 7741 payload descriptor), since SFrame protects whole frames.

use bytes::Bytes;

/// A parsed RTP packet (borrowed).
#[derive(Debug)]
pub struct Packet<'a> {
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub payload: &'a [u8],
}

/// The packet in `data`, or `None` when it is not RTP or is cut short.
pub fn parse(data: &[u8]) -> Option<Packet<'_>> {
    let b0 = *data.first()?;
    if b0 >> 6 != 2 {
        return None;
    }
    let b1 = *data.get(1)?;
    let seq = u16::from_be_bytes(data.get(2..4)?.try_into().ok()?);
    let timestamp = u32::from_be_bytes(data.get(4..8)?.try_into().ok()?);
    let mut at = 12 + 4 * usize::from(b0 & 0x0f);
    if b0 & 0x10 != 0 {
        let words = u16::from_be_bytes(data.get(at + 2..at + 4)?.try_into().ok()?);
        at += 4 + 4 * usize::from(words);
    }
    let mut end = data.len();
    if b0 & 0x20 != 0 {
        end = end.checked_sub(usize::from(*data.last()?))?;
    }
    Some(Packet {
        marker: b1 & 0x80 != 0,
        seq,
        timestamp,
        payload: data.get(at..end)?,
    })
}

/// A packet with no CSRC and no extension.
pub fn write(pt: u8, marker: bool, seq: u16, timestamp: u32, ssrc: u32, payload: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(12 + payload.len());
    v.push(0x80);
    v.push(pt & 0x7f | if marker { 0x80 } else { 0 });
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&timestamp.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(payload);
    Bytes::from(v)
}

/// The most bytes one assembled frame may have.
const MAX_FRAME: usize = 1 << 20;

/// Collects a VP8 frame's packets in order; a gap drops the frame.
#[derive(Debug, Default)]
pub struct Vp8Assembler {
    frame: Vec<u8>,
    next_seq: Option<u16>,
    /// A frame is being collected from its first packet on.
    open: bool,
}

/// The VP8 payload after its descriptor, and whether it starts a frame
/// (S bit set, partition 0).
fn vp8_payload(p: &[u8]) -> Option<(bool, &[u8])> {
    let b0 = *p.first()?;
    let mut at = 1;
    if b0 & 0x80 != 0 {
        let x = *p.get(1)?;
        at = 2;
        if x & 0x80 != 0 {
            let pic = *p.get(at)?;
            at += if pic & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            at += 1;
        }
        if x & 0x30 != 0 {
            at += 1;
        }
    }
    let start = b0 & 0x10 != 0 && b0 & 0x07 == 0;
    Some((start, p.get(at..)?))
}

impl Vp8Assembler {
    /// Adds a packet; returns the frame it completes.
    pub fn push(&mut self, packet: &Packet<'_>) -> Option<Vec<u8>> {
        let (start, payload) = vp8_payload(packet.payload)?;
        if start {
            self.frame.clear();
            self.open = true;
        } else if self.next_seq != Some(packet.seq) {
            self.open = false;
        }
        self.next_seq = Some(packet.seq.wrapping_add(1));
        if !self.open || self.frame.len() + payload.len() > MAX_FRAME {
            self.open = false;
            return None;
        }
        self.frame.extend_from_slice(payload);
        if packet.marker {
            self.open = false;
            return Some(std::mem::take(&mut self.frame));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_in_two_packets_is_assembled_and_a_gap_drops_it() {
        let first = write(96, false, 10, 1, 2, &[0x90, 0x80, 0x05, 1, 2, 3]);
        let last = write(96, true, 11, 1, 2, &[0x80, 0x80, 0x05, 4, 5]);
        let mut a = Vp8Assembler::default();
        assert_eq!(a.push(&parse(&first).unwrap()), None);
        assert_eq!(a.push(&parse(&last).unwrap()), Some(vec![1, 2, 3, 4, 5]));
        let gap = write(96, true, 13, 1, 2, &[0x80, 0x80, 0x05, 4, 5]);
        assert_eq!(a.push(&parse(&first).unwrap()), None);
        assert_eq!(a.push(&parse(&gap).unwrap()), None);
        assert!(parse(&[0x80, 0]).is_none());
        assert!(parse(&[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]).is_none());
    }
}
