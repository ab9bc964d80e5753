//! Rewritten RTP packets on their way to a subscriber. The header lives
//! inline in the output (no heap), the payload is the publisher's `Bytes`
//! shared by every subscriber; the transport serializes both into its send
//! buffer, where SRTP encrypts them in place.

use bytes::Bytes;

use crate::error::RtpError;

/// Bytes of extension values an outgoing packet can carry: enough for a mid,
/// abs-send-time, transport-cc and audio-level.
const EXT_CAPACITY: usize = 32;
const MAX_ELEMENTS: usize = 6;

/// Header extensions of an outgoing packet, stored inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundExtensions {
    data: [u8; EXT_CAPACITY],
    elements: [(u8, u8); MAX_ELEMENTS],
    count: u8,
    used: u8,
    /// Some element needs the two-byte form (RFC 8285 §4.3).
    two_byte: bool,
}

impl Default for OutboundExtensions {
    fn default() -> Self {
        Self {
            data: [0; EXT_CAPACITY],
            elements: [(0, 0); MAX_ELEMENTS],
            count: 0,
            used: 0,
            two_byte: false,
        }
    }
}

impl OutboundExtensions {
    /// Appends element `id` with `value`; returns false (and adds nothing)
    /// when it does not fit or is not encodable.
    pub fn push(&mut self, id: u8, value: &[u8]) -> bool {
        let used = usize::from(self.used);
        let count = usize::from(self.count);
        if id == 0 || value.is_empty() || value.len() > 255 || count >= MAX_ELEMENTS {
            return false;
        }
        let Some(dst) = self.data.get_mut(used..used + value.len()) else {
            return false;
        };
        dst.copy_from_slice(value);
        self.elements[count] = (id, value.len() as u8);
        self.count += 1;
        self.used += value.len() as u8;
        self.two_byte |= id > 14 || value.len() > 16;
        true
    }

    /// Elements as `(id, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        let mut offset = 0usize;
        self.elements
            .iter()
            .take(usize::from(self.count))
            .map(move |&(id, len)| {
                let start = offset;
                offset += usize::from(len);
                (id, self.data.get(start..offset).unwrap_or_default())
            })
    }

    /// Is there no element?
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// One-byte form (RFC 8285 §4.2) fits every element?
    fn one_byte(&self) -> bool {
        !self.two_byte
    }

    /// Encoded size including the 4-byte extension header and padding.
    fn encoded_len(&self) -> usize {
        if self.is_empty() {
            return 0;
        }
        let per = if self.one_byte() { 1 } else { 2 };
        let body = usize::from(self.count) * per + usize::from(self.used);
        4 + body.div_ceil(4) * 4
    }

    fn write(&self, out: &mut [u8]) -> Option<()> {
        let one_byte = self.one_byte();
        let len = self.encoded_len();
        let out = out.get_mut(..len)?;
        out.fill(0);
        let profile: u16 = if one_byte { 0xBEDE } else { 0x1000 };
        out.get_mut(0..2)?.copy_from_slice(&profile.to_be_bytes());
        out.get_mut(2..4)?
            .copy_from_slice(&(((len - 4) / 4) as u16).to_be_bytes());
        let mut i = 4;
        for (id, v) in self.iter() {
            if one_byte {
                *out.get_mut(i)? = (id << 4) | (v.len() as u8 - 1);
                i += 1;
            } else {
                *out.get_mut(i)? = id;
                *out.get_mut(i + 1)? = v.len() as u8;
                i += 2;
            }
            out.get_mut(i..i + v.len())?.copy_from_slice(v);
            i += v.len();
        }
        Some(())
    }
}

/// An RTP packet rewritten for one subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRtp {
    /// Marker bit.
    pub marker: bool,
    /// The subscriber's payload type.
    pub payload_type: u8,
    /// The subscriber's sequence number.
    pub sequence_number: u16,
    /// The subscriber's RTP timestamp.
    pub timestamp: u32,
    /// The subscriber's SSRC.
    pub ssrc: u32,
    /// Extensions, with the subscriber's ids.
    pub extensions: OutboundExtensions,
    /// For an RTX retransmission (RFC 4588): the original sequence number,
    /// written in front of the payload.
    pub rtx_osn: Option<u16>,
    /// The publisher's payload, shared.
    pub payload: Bytes,
}

impl OutboundRtp {
    /// Size once serialized.
    pub fn encoded_len(&self) -> usize {
        12 + self.extensions.encoded_len() + self.rtx_osn.map_or(0, |_| 2) + self.payload.len()
    }

    /// Serializes into `buf`, returning the number of bytes written.
    pub fn write_to(&self, buf: &mut [u8]) -> Result<usize, RtpError> {
        let len = self.encoded_len();
        let out = buf.get_mut(..len).ok_or(RtpError::BufferTooSmall)?;
        let has_ext = !self.extensions.is_empty();
        out[0] = 0x80 | if has_ext { 0x10 } else { 0 };
        out[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7f);
        out[2..4].copy_from_slice(&self.sequence_number.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut i = 12;
        if has_ext {
            let n = self.extensions.encoded_len();
            self.extensions
                .write(&mut out[i..i + n])
                .ok_or(RtpError::BufferTooSmall)?;
            i += n;
        }
        if let Some(osn) = self.rtx_osn {
            out[i..i + 2].copy_from_slice(&osn.to_be_bytes());
            i += 2;
        }
        out[i..].copy_from_slice(&self.payload);
        Ok(len)
    }

    /// Serializes into a new `Vec` (convenient in tests and examples; the
    /// hot path uses [`OutboundRtp::write_to`]).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.encoded_len()];
        // The buffer is exactly encoded_len long, so this cannot fail.
        let _ = self.write_to(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::RtpPacket;

    #[test]
    fn serialized_packet_parses_back() {
        let mut ext = OutboundExtensions::default();
        assert!(ext.push(4, b"1"));
        assert!(ext.push(3, &[0x12, 0x34]));
        let out = OutboundRtp {
            marker: true,
            payload_type: 100,
            sequence_number: 65535,
            timestamp: 42,
            ssrc: 7,
            extensions: ext,
            rtx_osn: Some(9),
            payload: Bytes::from_static(&[1, 2, 3]),
        };
        let bytes = out.to_vec();
        let p = RtpPacket::parse(Bytes::from(bytes)).unwrap();
        assert!(p.marker);
        assert_eq!(
            (p.payload_type, p.sequence_number, p.timestamp, p.ssrc),
            (100, 65535, 42, 7)
        );
        assert_eq!(p.extension(4), Some(&b"1"[..]));
        assert_eq!(p.extension(3), Some(&[0x12, 0x34][..]));
        assert_eq!(p.payload_slice(), &[0, 9, 1, 2, 3]);
    }

    #[test]
    fn two_byte_form_for_large_ids() {
        let mut ext = OutboundExtensions::default();
        assert!(ext.push(20, b"abc"));
        let out = OutboundRtp {
            marker: false,
            payload_type: 96,
            sequence_number: 1,
            timestamp: 1,
            ssrc: 1,
            extensions: ext,
            rtx_osn: None,
            payload: Bytes::new(),
        };
        let p = RtpPacket::parse(Bytes::from(out.to_vec())).unwrap();
        assert_eq!(p.extension(20), Some(&b"abc"[..]));
    }

    #[test]
    fn small_buffer_is_an_error() {
        let out = OutboundRtp {
            marker: false,
            payload_type: 96,
            sequence_number: 1,
            timestamp: 1,
            ssrc: 1,
            extensions: OutboundExtensions::default(),
            rtx_osn: None,
            payload: Bytes::from_static(&[0; 100]),
        };
        assert_eq!(out.write_to(&mut [0; 50]), Err(RtpError::BufferTooSmall));
    }
}
