//! Codecs, feedback and header extensions: what one payload type or one
//! `a=extmap` line says, and when two codec configurations are the same.

/// A codec's encoding name, with the ones we route named.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CodecName {
    /// Opus (RFC 7587).
    Opus,
    /// VP8 (RFC 7741).
    Vp8,
    /// VP9.
    Vp9,
    /// H.264 (RFC 6184).
    H264,
    /// AV1.
    Av1,
    /// Retransmission (RFC 4588).
    Rtx,
    /// Anything else (red, ulpfec, PCMU, telephone-event, H265...), kept as written.
    Other(String),
}

impl CodecName {
    /// The codec an encoding name (`a=rtpmap`) names, case-insensitively.
    pub fn parse(name: &str) -> Self {
        let known = [
            ("opus", CodecName::Opus),
            ("VP8", CodecName::Vp8),
            ("VP9", CodecName::Vp9),
            ("H264", CodecName::H264),
            ("AV1", CodecName::Av1),
            ("rtx", CodecName::Rtx),
        ];
        for (token, codec) in known {
            if name.eq_ignore_ascii_case(token) {
                return codec;
            }
        }
        CodecName::Other(name.to_owned())
    }

    /// The encoding name as written in `a=rtpmap`.
    pub fn as_str(&self) -> &str {
        match self {
            CodecName::Opus => "opus",
            CodecName::Vp8 => "VP8",
            CodecName::Vp9 => "VP9",
            CodecName::H264 => "H264",
            CodecName::Av1 => "AV1",
            CodecName::Rtx => "rtx",
            CodecName::Other(name) => name,
        }
    }
}

/// One `a=rtcp-fb` feedback mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RtcpFeedback {
    /// `nack`: generic NACK (RFC 4585).
    Nack,
    /// `nack pli`: picture loss indication.
    NackPli,
    /// `ccm fir`: full intra request (RFC 5104).
    CcmFir,
    /// `transport-cc`: transport-wide congestion control feedback.
    TransportCc,
    /// `goog-remb`: receiver estimated max bitrate.
    GoogRemb,
    /// Anything else, kept as written.
    Other(String),
}

impl RtcpFeedback {
    /// The mechanism an `a=rtcp-fb` value names.
    pub fn parse(value: &str) -> Self {
        match value {
            "nack" => RtcpFeedback::Nack,
            "nack pli" => RtcpFeedback::NackPli,
            "ccm fir" => RtcpFeedback::CcmFir,
            "transport-cc" => RtcpFeedback::TransportCc,
            "goog-remb" => RtcpFeedback::GoogRemb,
            other => RtcpFeedback::Other(other.to_owned()),
        }
    }

    /// The value after the payload type in `a=rtcp-fb`.
    pub fn as_str(&self) -> &str {
        match self {
            RtcpFeedback::Nack => "nack",
            RtcpFeedback::NackPli => "nack pli",
            RtcpFeedback::CcmFir => "ccm fir",
            RtcpFeedback::TransportCc => "transport-cc",
            RtcpFeedback::GoogRemb => "goog-remb",
            RtcpFeedback::Other(other) => other,
        }
    }
}

/// One payload type of an m-section: `a=rtpmap` + `a=fmtp` + `a=rtcp-fb`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PayloadFormat {
    /// RTP payload type.
    pub pt: u8,
    /// Encoding name.
    pub name: CodecName,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channel count, when written (`opus/48000/2`).
    pub channels: Option<u16>,
    /// The `a=fmtp` parameters as written (`key=value;key=value`).
    pub fmtp: Option<String>,
    /// Feedback mechanisms for this payload type.
    pub rtcp_fb: Vec<RtcpFeedback>,
}

impl PayloadFormat {
    /// One `a=fmtp` parameter by name (keys compare case-insensitively).
    pub fn fmtp_param(&self, key: &str) -> Option<&str> {
        self.fmtp.as_deref()?.split(';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
        })
    }

    /// For RTX: the payload type it repairs (`apt=`).
    pub fn apt(&self) -> Option<u8> {
        self.fmtp_param("apt")?.parse().ok()
    }

    /// For H.264: `packetization-mode` (0 when absent, per RFC 6184).
    pub fn h264_packetization_mode(&self) -> u8 {
        self.fmtp_param("packetization-mode")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// For H.264: `profile-level-id` as (profile_idc, profile-iop); the level
    /// is left out because answers may use a different level (RFC 6184 §8.2.2).
    /// RFC 6184's default `42000A` applies when absent.
    pub fn h264_profile(&self) -> Option<(u8, u8)> {
        let hex = self.fmtp_param("profile-level-id").unwrap_or("42000a");
        if hex.len() != 6 {
            return None;
        }
        let value = u32::from_str_radix(hex, 16).ok()?;
        let bytes = value.to_be_bytes();
        Some((bytes[1], bytes[2]))
    }

    /// For VP9: `profile-id` (0 when absent).
    pub fn vp9_profile(&self) -> u8 {
        self.fmtp_param("profile-id")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// For AV1: `profile` (0 when absent).
    pub fn av1_profile(&self) -> u8 {
        self.fmtp_param("profile")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Whether `other` is the same codec configuration, so that media encoded
    /// for one can be sent as the other (ignores payload type and feedback).
    pub fn same_format(&self, other: &PayloadFormat) -> bool {
        if self.name != other.name || self.clock_rate != other.clock_rate {
            return false;
        }
        match self.name {
            CodecName::Opus => self.channels.unwrap_or(1) == other.channels.unwrap_or(1),
            CodecName::H264 => {
                self.h264_packetization_mode() == other.h264_packetization_mode()
                    && self.h264_profile().is_some()
                    && self.h264_profile() == other.h264_profile()
            }
            CodecName::Vp9 => self.vp9_profile() == other.vp9_profile(),
            CodecName::Av1 => self.av1_profile() == other.av1_profile(),
            CodecName::Rtx => self.apt() == other.apt(),
            CodecName::Vp8 | CodecName::Other(_) => true,
        }
    }
}

/// The RTP header extensions the SFU understands, by URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExtensionUri {
    /// `urn:ietf:params:rtp-hdrext:sdes:mid` (RFC 8843).
    Mid,
    /// `urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id` (RFC 8852).
    Rid,
    /// `urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id` (RFC 8852).
    RepairedRid,
    /// `http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time`.
    AbsSendTime,
    /// `http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01`.
    TransportCc,
    /// `urn:ietf:params:rtp-hdrext:ssrc-audio-level` (RFC 6464).
    AudioLevel,
    /// Any other URI, kept as written.
    Other(String),
}

impl ExtensionUri {
    const KNOWN: [(&'static str, ExtensionUri); 6] = [
        ("urn:ietf:params:rtp-hdrext:sdes:mid", ExtensionUri::Mid),
        (
            "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
            ExtensionUri::Rid,
        ),
        (
            "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
            ExtensionUri::RepairedRid,
        ),
        (
            "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            ExtensionUri::AbsSendTime,
        ),
        (
            "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            ExtensionUri::TransportCc,
        ),
        (
            "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            ExtensionUri::AudioLevel,
        ),
    ];

    pub(crate) fn parse(uri: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find_map(|(text, known)| (text == uri).then_some(known))
            .unwrap_or_else(|| ExtensionUri::Other(uri.to_owned()))
    }

    /// The URI as written in `a=extmap`.
    pub fn as_str(&self) -> &str {
        if let ExtensionUri::Other(uri) = self {
            return uri;
        }
        Self::KNOWN
            .iter()
            .find_map(|(text, known)| (known == self).then_some(*text))
            .unwrap_or_default()
    }
}

/// One `a=extmap:<id> <uri>` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeaderExtension {
    /// The id used in RTP packets (1..=255; 1..=14 for one-byte headers).
    pub id: u8,
    /// What the extension carries.
    pub uri: ExtensionUri,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h264(fmtp: &str) -> PayloadFormat {
        PayloadFormat {
            pt: 102,
            name: CodecName::H264,
            clock_rate: 90_000,
            channels: None,
            fmtp: Some(fmtp.to_owned()),
            rtcp_fb: Vec::new(),
        }
    }

    #[test]
    fn h264_matches_on_profile_and_mode_not_level() {
        let a = h264("profile-level-id=42e01f;packetization-mode=1");
        let b = h264("packetization-mode=1;profile-level-id=42e034;level-asymmetry-allowed=1");
        assert!(a.same_format(&b));
        assert!(!a.same_format(&h264("profile-level-id=42001f;packetization-mode=1")));
        assert!(!a.same_format(&h264("profile-level-id=42e01f;packetization-mode=0")));
        assert!(!a.same_format(&h264("profile-level-id=nothex;packetization-mode=1")));
        // RFC 6184 defaults: 42000a, mode 0.
        assert_eq!(h264("").h264_profile(), Some((0x42, 0x00)));
        assert_eq!(h264("").h264_packetization_mode(), 0);
    }

    #[test]
    fn codec_names_compare_case_insensitively() {
        assert_eq!(CodecName::parse("OPUS"), CodecName::Opus);
        assert_eq!(CodecName::parse("vp8"), CodecName::Vp8);
        assert_eq!(CodecName::parse("H265"), CodecName::Other("H265".into()));
    }

    #[test]
    fn extension_uris_print_as_parsed() {
        for uri in [
            "urn:ietf:params:rtp-hdrext:sdes:mid",
            "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
            "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
            "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "urn:3gpp:video-orientation",
        ] {
            assert_eq!(ExtensionUri::parse(uri).as_str(), uri);
        }
        assert_ne!(
            ExtensionUri::parse("urn:3gpp:video-orientation"),
            ExtensionUri::Mid
        );
    }
}
