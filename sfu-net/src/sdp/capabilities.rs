//! What the SFU can carry: codecs in order of preference, feedback, header
//! extensions. Negotiation picks from the peer's offer by these lists and
//! always keeps the peer's payload type numbers and extension ids.

use std::net::SocketAddr;

use super::model::*;

/// The SFU's side of the transport, written into every answer and offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTransport {
    /// Our ICE credentials for this session (the ufrag routes its STUN checks).
    pub ice: IceParameters,
    /// The SHA-256 fingerprint of our DTLS certificate.
    pub fingerprint: Fingerprint,
    /// The addresses announced as host candidates, most preferred first:
    /// the interface addresses clients can reach (or the public IP and port
    /// behind NAT), IPv4 and IPv6.
    pub candidates: Vec<SocketAddr>,
    /// The `o=` session id: random, chosen by the caller (the crate draws no
    /// randomness itself).
    pub session_id: u64,
}

impl LocalTransport {
    /// Every host candidate: UDP, component 1, host-type priority (RFC
    /// 8445 §5.1.2.1) with a local preference falling in the order given,
    /// so clients try the first address first.
    pub fn host_candidates(&self) -> Vec<Candidate> {
        self.candidates
            .iter()
            .zip(0u32..)
            .map(|(&address, i)| Candidate {
                foundation: (i + 1).to_string(),
                component: 1,
                priority: (126 << 24) | (65535u32.saturating_sub(i) << 8) | 255,
                address,
                kind: CandidateKind::Host,
            })
            .collect()
    }
}

/// One codec configuration the SFU forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecCapability {
    /// Audio or video.
    pub kind: MediaKind,
    /// A template compared with [`PayloadFormat::same_format`]; its payload type and
    /// feedback are ignored. H.264 matches on packetization-mode and profile.
    pub template: PayloadFormat,
}

/// What the SFU negotiates, in order of preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Codecs, most preferred first. A publish answer keeps the first of
    /// these that the offer has, so every track has exactly one codec.
    pub codecs: Vec<CodecCapability>,
    /// Feedback the SFU handles for video (kept only where the peer offers it).
    pub video_feedback: Vec<RtcpFeedback>,
    /// Feedback the SFU handles for audio.
    pub audio_feedback: Vec<RtcpFeedback>,
    /// Header extensions accepted on media the SFU receives.
    pub receive_extensions: Vec<ExtensionUri>,
    /// Header extensions written on media the SFU sends.
    pub send_extensions: Vec<ExtensionUri>,
    /// Whether to negotiate RTX (RFC 4588) for video.
    pub rtx: bool,
}

fn template(name: CodecName, clock_rate: u32, channels: Option<u16>, fmtp: &str) -> PayloadFormat {
    PayloadFormat {
        pt: 0,
        name,
        clock_rate,
        channels,
        fmtp: (!fmtp.is_empty()).then(|| fmtp.to_owned()),
        rtcp_fb: Vec::new(),
    }
}

impl Default for Capabilities {
    /// Opus; VP8, H.264 constrained baseline (packetization-mode 1), VP9
    /// profile 0, AV1 profile 0; NACK/PLI/FIR/transport-cc; RTX; the mid, rid,
    /// repaired-rid, abs-send-time, transport-cc and audio-level extensions.
    fn default() -> Self {
        let video = |name, fmtp| CodecCapability {
            kind: MediaKind::Video,
            template: template(name, 90_000, None, fmtp),
        };
        Capabilities {
            codecs: vec![
                CodecCapability {
                    kind: MediaKind::Audio,
                    template: template(CodecName::Opus, 48_000, Some(2), ""),
                },
                video(CodecName::Vp8, ""),
                video(
                    CodecName::H264,
                    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
                ),
                video(CodecName::Vp9, "profile-id=0"),
                video(CodecName::Av1, ""),
            ],
            video_feedback: vec![
                RtcpFeedback::Nack,
                RtcpFeedback::NackPli,
                RtcpFeedback::CcmFir,
                RtcpFeedback::TransportCc,
            ],
            audio_feedback: vec![RtcpFeedback::TransportCc],
            receive_extensions: vec![
                ExtensionUri::Mid,
                ExtensionUri::Rid,
                ExtensionUri::RepairedRid,
                ExtensionUri::AbsSendTime,
                ExtensionUri::TransportCc,
                ExtensionUri::AudioLevel,
            ],
            send_extensions: vec![
                ExtensionUri::Mid,
                ExtensionUri::AbsSendTime,
                ExtensionUri::TransportCc,
                ExtensionUri::AudioLevel,
            ],
            rtx: true,
        }
    }
}

impl Capabilities {
    /// The offered codec we prefer for a section, by our preference order.
    pub fn pick<'a>(&self, section: &'a MediaSection) -> Option<&'a PayloadFormat> {
        self.codecs
            .iter()
            .filter(|cap| cap.kind == section.kind)
            .find_map(|cap| {
                section
                    .media_codecs()
                    .find(|offered| cap.template.same_format(offered))
            })
    }

    /// Whether we can forward this codec configuration at all.
    pub fn supports(&self, kind: MediaKind, codec: &PayloadFormat) -> bool {
        self.codecs
            .iter()
            .any(|cap| cap.kind == kind && cap.template.same_format(codec))
    }

    /// The feedback list for a kind.
    pub fn feedback(&self, kind: MediaKind) -> &[RtcpFeedback] {
        match kind {
            MediaKind::Video => &self.video_feedback,
            _ => &self.audio_feedback,
        }
    }

    /// `codec` as we answer it: its payload type and fmtp, with only the
    /// feedback both sides support.
    pub(crate) fn answer_codec(&self, kind: MediaKind, codec: &PayloadFormat) -> PayloadFormat {
        let ours = self.feedback(kind);
        PayloadFormat {
            rtcp_fb: codec
                .rtcp_fb
                .iter()
                .filter(|fb| ours.contains(fb))
                .cloned()
                .collect(),
            ..codec.clone()
        }
    }
}
