//! First-byte demultiplexing of one UDP port (RFC 7983, RFC 5761).

/// What a datagram on the shared port is, judged by its first bytes only.
///
/// Classification authenticates nothing; it only decides which parser may
/// look at the datagram next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatagramKind {
    /// First byte 0–3: STUN (RFC 7983 §7).
    Stun,
    /// First byte 20–63: DTLS records.
    Dtls,
    /// First byte 128–191 and a second byte that is not an RTCP packet type.
    Rtp,
    /// First byte 128–191 and a second byte 192–223: RTCP multiplexed with
    /// RTP (RFC 5761 §4, which is why RTP payload types 64–95 are never used).
    Rtcp,
    /// Anything else (ZRTP, TURN channels, QUIC, garbage, empty).
    Unknown,
}

/// Classifies a datagram received on the shared port.
pub fn classify(datagram: &[u8]) -> DatagramKind {
    match datagram.first() {
        Some(0..=3) => DatagramKind::Stun,
        Some(20..=63) => DatagramKind::Dtls,
        Some(128..=191) => match datagram.get(1) {
            Some(192..=223) => DatagramKind::Rtcp,
            Some(_) => DatagramKind::Rtp,
            None => DatagramKind::Unknown,
        },
        _ => DatagramKind::Unknown,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_first_byte_has_one_kind() {
        for b in 0..=255u8 {
            let kind = classify(&[b, 96]);
            let expected = match b {
                0..=3 => DatagramKind::Stun,
                20..=63 => DatagramKind::Dtls,
                128..=191 => DatagramKind::Rtp,
                _ => DatagramKind::Unknown,
            };
            assert_eq!(kind, expected, "first byte {b}");
        }
    }

    #[test]
    fn rtcp_is_told_from_rtp_by_packet_type() {
        assert_eq!(classify(&[0x80, 200]), DatagramKind::Rtcp); // SR
        assert_eq!(classify(&[0x81, 205]), DatagramKind::Rtcp); // RTPFB
        assert_eq!(classify(&[0x80, 223]), DatagramKind::Rtcp);
        assert_eq!(classify(&[0x80, 224]), DatagramKind::Rtp); // marker + PT 96
        assert_eq!(classify(&[0x80, 191]), DatagramKind::Rtp);
        assert_eq!(classify(&[0x80, 0x6f]), DatagramKind::Rtp); // PT 111
    }

    #[test]
    fn empty_and_one_byte_media_are_unknown() {
        assert_eq!(classify(&[]), DatagramKind::Unknown);
        assert_eq!(classify(&[0x80]), DatagramKind::Unknown);
        assert_eq!(classify(&[0x00]), DatagramKind::Stun);
    }
}
