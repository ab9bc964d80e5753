//! The Data Channel Establishment Protocol (RFC 8832): DATA_CHANNEL_OPEN and
//! DATA_CHANNEL_ACK, sent on the channel's own stream with PPID 50.
//!
//! Written here rather than taken from `rtc-datachannel`: that crate is
//! built on `rtc-sctp`, not on the SCTP stack we chose, and the codec is
//! two messages of fixed layout. Parsing reads with checked access only and
//! refuses lengths past the end or over our bound before allocating.

use super::Reliability;
use super::error::DcepError;

/// DATA_CHANNEL_ACK (RFC 8832 section 5.2).
const ACK: u8 = 0x02;
/// DATA_CHANNEL_OPEN (RFC 8832 section 5.1).
const OPEN: u8 = 0x03;
/// Message type, channel type, priority, reliability parameter, label
/// length, protocol length.
const OPEN_HEADER_LEN: usize = 12;
/// The channel type's high bit: unordered delivery.
const UNORDERED: u8 = 0x80;
/// RFC 8832 section 5.1's base channel types.
const RELIABLE: u8 = 0x00;
const PARTIAL_RELIABLE_REXMIT: u8 = 0x01;
const PARTIAL_RELIABLE_TIMED: u8 = 0x02;
/// The priority we announce: "normal" in the W3C API's mapping (RFC 8831
/// section 6.4 leaves values to the application; Chromium sends 256).
pub(crate) const PRIORITY_NORMAL: u16 = 256;

/// One decoded DCEP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dcep {
    /// The peer opens a channel on the stream this arrived on.
    Open(Open),
    /// The peer acknowledges our OPEN on this stream.
    Ack,
}

/// The content of a DATA_CHANNEL_OPEN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Open {
    pub reliability: Reliability,
    pub priority: u16,
    pub label: String,
    pub protocol: String,
}

impl Dcep {
    /// Decodes one DCEP message; `max_label` bounds the label and the
    /// protocol each (checked on the announced length, before copying).
    pub(crate) fn decode(bytes: &[u8], max_label: usize) -> Result<Self, DcepError> {
        match bytes.first().copied() {
            Some(ACK) => Ok(Dcep::Ack),
            Some(OPEN) => Open::decode(bytes, max_label).map(Dcep::Open),
            Some(other) => Err(DcepError::UnknownMessageType(other)),
            None => Err(DcepError::Truncated),
        }
    }

    /// The DATA_CHANNEL_ACK message.
    pub(crate) const ACK: &'static [u8] = &[ACK];
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

impl Open {
    fn decode(bytes: &[u8], max_label: usize) -> Result<Self, DcepError> {
        if bytes.len() < OPEN_HEADER_LEN {
            return Err(DcepError::Truncated);
        }
        let channel_type = *bytes.get(1).ok_or(DcepError::Truncated)?;
        let priority = be16(bytes, 2).ok_or(DcepError::Truncated)?;
        let parameter = be32(bytes, 4).ok_or(DcepError::Truncated)?;
        let label_len = usize::from(be16(bytes, 8).ok_or(DcepError::Truncated)?);
        let protocol_len = usize::from(be16(bytes, 10).ok_or(DcepError::Truncated)?);
        // Refuse on the announced lengths, so an absurd label costs nothing.
        for len in [label_len, protocol_len] {
            if len > max_label {
                return Err(DcepError::LabelTooLong(len));
            }
        }
        let label_end = OPEN_HEADER_LEN + label_len;
        let label = bytes
            .get(OPEN_HEADER_LEN..label_end)
            .ok_or(DcepError::Truncated)?;
        let protocol = bytes
            .get(label_end..label_end + protocol_len)
            .ok_or(DcepError::Truncated)?;
        let ordered = channel_type & UNORDERED == 0;
        let reliability = match channel_type & !UNORDERED {
            RELIABLE => Reliability::Reliable { ordered },
            PARTIAL_RELIABLE_REXMIT => Reliability::MaxRetransmits {
                retransmits: parameter,
                ordered,
            },
            PARTIAL_RELIABLE_TIMED => Reliability::MaxPacketLifeTime {
                millis: parameter,
                ordered,
            },
            _ => return Err(DcepError::UnknownChannelType(channel_type)),
        };
        let text = |b: &[u8]| {
            std::str::from_utf8(b)
                .map(str::to_owned)
                .map_err(|_| DcepError::NotUtf8)
        };
        Ok(Open {
            reliability,
            priority,
            label: text(label)?,
            protocol: text(protocol)?,
        })
    }

    /// Encodes this OPEN. The caller has bounded label and protocol to
    /// `u16::MAX` bytes (the wire's length fields).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let (base, parameter, ordered) = match self.reliability {
            Reliability::Reliable { ordered } => (RELIABLE, 0, ordered),
            Reliability::MaxRetransmits {
                retransmits,
                ordered,
            } => (PARTIAL_RELIABLE_REXMIT, retransmits, ordered),
            Reliability::MaxPacketLifeTime { millis, ordered } => {
                (PARTIAL_RELIABLE_TIMED, millis, ordered)
            }
        };
        let channel_type = if ordered { base } else { base | UNORDERED };
        let label_len = u16::try_from(self.label.len()).unwrap_or(u16::MAX);
        let protocol_len = u16::try_from(self.protocol.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(OPEN_HEADER_LEN + self.label.len() + self.protocol.len());
        out.push(OPEN);
        out.push(channel_type);
        out.extend_from_slice(&self.priority.to_be_bytes());
        out.extend_from_slice(&parameter.to_be_bytes());
        out.extend_from_slice(&label_len.to_be_bytes());
        out.extend_from_slice(&protocol_len.to_be_bytes());
        out.extend_from_slice(self.label.as_bytes());
        out.extend_from_slice(self.protocol.as_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_round_trips_every_channel_type() {
        for reliability in [
            Reliability::Reliable { ordered: true },
            Reliability::Reliable { ordered: false },
            Reliability::MaxRetransmits {
                retransmits: 0,
                ordered: true,
            },
            Reliability::MaxRetransmits {
                retransmits: 7,
                ordered: false,
            },
            Reliability::MaxPacketLifeTime {
                millis: 1500,
                ordered: true,
            },
            Reliability::MaxPacketLifeTime {
                millis: 3,
                ordered: false,
            },
        ] {
            let open = Open {
                reliability,
                priority: PRIORITY_NORMAL,
                label: "chat ✓".into(),
                protocol: "json".into(),
            };
            assert_eq!(Dcep::decode(&open.encode(), 64), Ok(Dcep::Open(open)));
        }
    }

    #[test]
    fn chromium_open_decodes() {
        // Chromium's OPEN for createDataChannel("dc", {ordered: false, maxRetransmits: 0}).
        let wire = [3, 0x81, 1, 0, 0, 0, 0, 0, 0, 2, 0, 0, b'd', b'c'];
        let Ok(Dcep::Open(open)) = Dcep::decode(&wire, 64) else {
            panic!("not an OPEN");
        };
        assert_eq!(open.label, "dc");
        assert_eq!(
            open.reliability,
            Reliability::MaxRetransmits {
                retransmits: 0,
                ordered: false
            }
        );
    }

    #[test]
    fn hostile_opens_are_refused() {
        // The label claims 65535 bytes: refused on the length, nothing copied.
        let absurd = [3, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, b'x'];
        assert_eq!(
            Dcep::decode(&absurd, 1024),
            Err(DcepError::LabelTooLong(65535))
        );
        // Within the bound but past the end of the message.
        let short = [3, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, b'x'];
        assert_eq!(Dcep::decode(&short, 1024), Err(DcepError::Truncated));
        assert_eq!(
            Dcep::decode(&[3, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 1024),
            Err(DcepError::UnknownChannelType(3))
        );
        assert_eq!(
            Dcep::decode(&[3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xff], 1024),
            Err(DcepError::NotUtf8)
        );
        assert_eq!(Dcep::decode(&[], 1024), Err(DcepError::Truncated));
        assert_eq!(
            Dcep::decode(&[9], 1024),
            Err(DcepError::UnknownMessageType(9))
        );
        for n in 0..12 {
            assert!(Dcep::decode(&absurd[..n.max(1)], 1024).is_err());
        }
    }
}
