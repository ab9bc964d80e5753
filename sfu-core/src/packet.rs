//! Zero-copy view of an incoming RTP packet (RFC 3550 §5.1, RFC 8285).
//!
//! We parse headers ourselves instead of using `rtc-rtp` because its header
//! type keeps CSRCs and extensions in `Vec`s, which would allocate for every
//! packet a browser sends (they all carry header extensions).

use bytes::Bytes;

use crate::error::RtpError;

/// Most one-byte/two-byte header extension elements we keep per packet;
/// browsers send 3–6, more are ignored rather than allocated for.
pub const MAX_EXTENSIONS: usize = 16;

/// The header extensions the router understands, by meaning rather than by id
/// (ids are negotiated per session in SDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionKind {
    /// `urn:ietf:params:rtp-hdrext:sdes:mid`
    Mid,
    /// `urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id`
    Rid,
    /// `urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id`
    RepairedRid,
    /// `http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time`
    AbsSendTime,
    /// `http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01`
    TransportCc,
    /// `urn:ietf:params:rtp-hdrext:ssrc-audio-level`
    AudioLevel,
}

impl ExtensionKind {
    /// Every kind, in a fixed order (also the index into [`ExtensionMap`]).
    pub const ALL: [ExtensionKind; 6] = [
        ExtensionKind::Mid,
        ExtensionKind::Rid,
        ExtensionKind::RepairedRid,
        ExtensionKind::AbsSendTime,
        ExtensionKind::TransportCc,
        ExtensionKind::AudioLevel,
    ];

    /// The URI that names this extension in SDP `a=extmap` lines.
    pub fn uri(self) -> &'static str {
        match self {
            ExtensionKind::Mid => "urn:ietf:params:rtp-hdrext:sdes:mid",
            ExtensionKind::Rid => "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
            ExtensionKind::RepairedRid => "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
            ExtensionKind::AbsSendTime => {
                "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
            }
            ExtensionKind::TransportCc => {
                "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
            }
            ExtensionKind::AudioLevel => "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        }
    }

    /// The kind an SDP `a=extmap` URI names, if the router understands it.
    pub fn from_uri(uri: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.uri() == uri)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Which extension id a session negotiated for each kind (RFC 8285 ids 1–255;
/// 0 is reserved). One map per session: with BUNDLE, ids are per transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtensionMap {
    ids: [Option<u8>; 6],
}

impl ExtensionMap {
    /// An empty map: no extension negotiated.
    pub fn new() -> Self {
        Self::default()
    }

    /// The map Chromium offers by default, handy for tests and demos.
    pub fn chromium_defaults() -> Self {
        let mut m = Self::new();
        m.set(ExtensionKind::AudioLevel, 1);
        m.set(ExtensionKind::AbsSendTime, 2);
        m.set(ExtensionKind::TransportCc, 3);
        m.set(ExtensionKind::Mid, 4);
        m.set(ExtensionKind::Rid, 10);
        m.set(ExtensionKind::RepairedRid, 11);
        m
    }

    /// Negotiates `kind` with `id`. Ids outside 1–255 are ignored.
    pub fn set(&mut self, kind: ExtensionKind, id: u8) -> &mut Self {
        if id != 0 {
            self.ids[kind.index()] = Some(id);
        }
        self
    }

    /// The id negotiated for `kind`.
    pub fn id(&self, kind: ExtensionKind) -> Option<u8> {
        self.ids[kind.index()]
    }

    /// The kind negotiated under `id`.
    pub fn kind(&self, id: u8) -> Option<ExtensionKind> {
        ExtensionKind::ALL
            .into_iter()
            .find(|k| self.ids[k.index()] == Some(id))
    }
}

/// One header extension element: its id and where its value lies in the packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ExtensionElement {
    id: u8,
    start: u16,
    len: u8,
}

/// A parsed RTP packet. The payload is a slice of the datagram the caller
/// handed in (`Bytes` refcount, no copy), so it can be shared by every
/// subscriber the packet fans out to.
#[derive(Debug, Clone)]
pub struct RtpPacket {
    raw: Bytes,
    /// The marker bit (end of a video frame).
    pub marker: bool,
    /// The payload type.
    pub payload_type: u8,
    /// The 16-bit sequence number.
    pub sequence_number: u16,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The synchronization source.
    pub ssrc: u32,
    extensions: [ExtensionElement; MAX_EXTENSIONS],
    extension_count: u8,
    payload_start: usize,
    payload_end: usize,
}

impl RtpPacket {
    /// Parses an RTP packet. Everything is bounds-checked: malformed input
    /// yields an [`RtpError`], never a panic.
    pub fn parse(raw: Bytes) -> Result<Self, RtpError> {
        let b = raw.as_ref();
        let fixed = b.get(..12).ok_or(RtpError::TooShort)?;
        let first = fixed[0];
        if first >> 6 != 2 {
            return Err(RtpError::BadVersion);
        }
        let padding = first & 0x20 != 0;
        let has_extension = first & 0x10 != 0;
        let csrc_count = usize::from(first & 0x0f);
        let marker = fixed[1] & 0x80 != 0;
        let payload_type = fixed[1] & 0x7f;
        let sequence_number = u16::from_be_bytes([fixed[2], fixed[3]]);
        let timestamp = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let ssrc = u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);

        let mut offset = 12 + 4 * csrc_count;
        if offset > b.len() {
            return Err(RtpError::TooShort);
        }
        let mut extensions = [ExtensionElement::default(); MAX_EXTENSIONS];
        let mut extension_count = 0u8;
        if has_extension {
            let head = b.get(offset..offset + 4).ok_or(RtpError::TooShort)?;
            let profile = u16::from_be_bytes([head[0], head[1]]);
            let words = usize::from(u16::from_be_bytes([head[2], head[3]]));
            let body_start = offset + 4;
            let body_end = body_start + 4 * words;
            let body = b.get(body_start..body_end).ok_or(RtpError::TooShort)?;
            extension_count = parse_extensions(profile, body, body_start, &mut extensions)?;
            offset = body_end;
        }
        let mut end = b.len();
        if padding {
            let pad = usize::from(*b.last().ok_or(RtpError::TooShort)?);
            if pad == 0 || offset + pad > end {
                return Err(RtpError::BadPadding);
            }
            end -= pad;
        }
        Ok(Self {
            raw,
            marker,
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            extensions,
            extension_count,
            payload_start: offset,
            payload_end: end,
        })
    }

    /// The payload with padding removed, sharing the datagram's memory.
    pub fn payload(&self) -> Bytes {
        self.raw.slice(self.payload_start..self.payload_end)
    }

    /// The payload as a slice, for inspection without touching the refcount.
    pub fn payload_slice(&self) -> &[u8] {
        self.raw
            .get(self.payload_start..self.payload_end)
            .unwrap_or_default()
    }

    /// The value of header extension `id`, if present.
    pub fn extension(&self, id: u8) -> Option<&[u8]> {
        self.extensions
            .iter()
            .take(usize::from(self.extension_count))
            .find(|e| e.id == id)
            .and_then(|e| {
                let start = usize::from(e.start);
                self.raw.get(start..start + usize::from(e.len))
            })
    }

    /// The value of the extension negotiated as `kind` in `map`.
    pub fn extension_of(&self, map: &ExtensionMap, kind: ExtensionKind) -> Option<&[u8]> {
        map.id(kind).and_then(|id| self.extension(id))
    }

    /// Every extension element present, as `(id, value)`.
    pub fn extensions(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.extensions
            .iter()
            .take(usize::from(self.extension_count))
            .filter_map(|e| {
                let start = usize::from(e.start);
                self.raw
                    .get(start..start + usize::from(e.len))
                    .map(|v| (e.id, v))
            })
    }

    /// Rebuilds this packet as another stream's packet: the RTX decode path
    /// (RFC 4588 §4) restores the original SSRC, payload type and sequence
    /// number and drops the two OSN bytes from the payload.
    pub fn into_repaired(mut self, ssrc: u32, payload_type: u8) -> Result<Self, RtpError> {
        let payload = self.payload_slice();
        let osn = payload.get(..2).ok_or(RtpError::RtxTooShort)?;
        self.sequence_number = u16::from_be_bytes([osn[0], osn[1]]);
        self.ssrc = ssrc;
        self.payload_type = payload_type;
        self.payload_start += 2;
        Ok(self)
    }

    /// Total size on the wire, as received.
    pub fn wire_len(&self) -> usize {
        self.raw.len()
    }
}

fn parse_extensions(
    profile: u16,
    body: &[u8],
    body_offset: usize,
    out: &mut [ExtensionElement; MAX_EXTENSIONS],
) -> Result<u8, RtpError> {
    let one_byte = profile == 0xBEDE;
    let two_byte = profile & 0xFFF0 == 0x1000;
    if !one_byte && !two_byte {
        // An extension profile we do not know: legal, just carries nothing for us.
        return Ok(0);
    }
    let mut count = 0usize;
    let mut i = 0usize;
    while i < body.len() {
        let Some(&b0) = body.get(i) else { break };
        if b0 == 0 {
            // Padding between elements.
            i += 1;
            continue;
        }
        let (id, len, header) = if one_byte {
            let id = b0 >> 4;
            if id == 15 {
                // Reserved: stop parsing (RFC 8285 §4.2).
                break;
            }
            (id, usize::from(b0 & 0x0f) + 1, 1)
        } else {
            let len = *body.get(i + 1).ok_or(RtpError::BadExtension)?;
            (b0, usize::from(len), 2)
        };
        let start = i + header;
        if start + len > body.len() {
            return Err(RtpError::BadExtension);
        }
        if count < MAX_EXTENSIONS {
            let abs = body_offset + start;
            out[count] = ExtensionElement {
                id,
                start: u16::try_from(abs).map_err(|_| RtpError::BadExtension)?,
                len: u8::try_from(len).map_err(|_| RtpError::BadExtension)?,
            };
            count += 1;
        }
        i = start + len;
    }
    Ok(count as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet_with_extensions() -> Vec<u8> {
        let mut p = vec![
            0x90, 0x60, 0x12, 0x34, 0, 0, 0x10, 0, 0xde, 0xad, 0xbe, 0xef,
        ];
        // One-byte extensions: id 4 (mid "0"), id 10 (rid "hi"), then padding.
        p.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x02]);
        p.extend_from_slice(&[0x40, b'0', 0xA1, b'h', b'i', 0, 0, 0]);
        p.extend_from_slice(&[1, 2, 3]);
        p
    }

    #[test]
    fn parses_header_fields_and_one_byte_extensions() {
        let p = RtpPacket::parse(Bytes::from(packet_with_extensions())).unwrap();
        assert_eq!(p.payload_type, 0x60);
        assert_eq!(p.sequence_number, 0x1234);
        assert_eq!(p.timestamp, 0x1000);
        assert_eq!(p.ssrc, 0xdeadbeef);
        assert_eq!(p.extension(4), Some(&b"0"[..]));
        assert_eq!(p.extension(10), Some(&b"hi"[..]));
        assert_eq!(p.payload_slice(), &[1, 2, 3]);
    }

    #[test]
    fn strips_padding() {
        let mut p = vec![0xA0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9, 9, 0, 0, 3];
        let parsed = RtpPacket::parse(Bytes::from(p.clone())).unwrap();
        assert_eq!(parsed.payload_slice(), &[9, 9]);
        p[16] = 200;
        assert_eq!(
            RtpPacket::parse(Bytes::from(p)).unwrap_err(),
            RtpError::BadPadding
        );
    }

    #[test]
    fn truncation_at_every_length_is_an_error_not_a_panic() {
        let full = packet_with_extensions();
        for n in 0..full.len() - 3 {
            assert!(
                RtpPacket::parse(Bytes::copy_from_slice(&full[..n])).is_err(),
                "{n}"
            );
        }
    }

    #[test]
    fn rtx_restores_original_sequence_number() {
        let p = vec![0x80, 97, 0, 7, 0, 0, 0, 9, 0, 0, 0, 2, 0xAB, 0xCD, 5, 6];
        let r = RtpPacket::parse(Bytes::from(p))
            .unwrap()
            .into_repaired(1, 96)
            .unwrap();
        assert_eq!(r.sequence_number, 0xABCD);
        assert_eq!((r.ssrc, r.payload_type), (1, 96));
        assert_eq!(r.payload_slice(), &[5, 6]);
    }
}
