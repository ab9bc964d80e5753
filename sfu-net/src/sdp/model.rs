//! The typed, neutral form of a session description: what the rest of the
//! crate reads instead of SDP text.

use std::fmt;
use std::net::SocketAddr;

pub use super::codec::{CodecName, ExtensionUri, HeaderExtension, PayloadFormat, RtcpFeedback};
pub use crate::dtls::Fingerprint;

/// The `m=` media type of a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `m=audio`.
    Audio,
    /// `m=video`.
    Video,
    /// `m=application` (data channels): parsed so it can be rejected cleanly.
    Application,
}

impl MediaKind {
    /// The `m=` token.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Application => "application",
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The media direction of an m-section, from the writer's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv` (also the default when no direction is written).
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    pub(crate) fn from_attribute(key: &str) -> Option<Self> {
        match key {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// Whether the writer of this direction sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the writer of this direction receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// The DTLS role attribute `a=setup` (RFC 4145, RFC 8842).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setup {
    /// `active`: this side is the DTLS client.
    Active,
    /// `passive`: this side is the DTLS server.
    Passive,
    /// `actpass`: the offerer lets the answerer choose.
    ActPass,
}

impl Setup {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::ActPass => "actpass",
        }
    }
}

/// ICE credentials of one side as SDP carries them (RFC 8839 `a=ice-ufrag`,
/// `a=ice-pwd`); [`crate::IceCredentials`] is the endpoint's own, generated pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IceParameters {
    /// The username fragment that STUN checks are routed by.
    pub ufrag: String,
    /// The password that keys MESSAGE-INTEGRITY.
    pub pwd: String,
}

/// A WebRTC media stream id and track id (`a=msid:<stream> <track>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Msid {
    /// The MediaStream id (`-` for none).
    pub stream: String,
    /// The track id.
    pub track: String,
}

/// One SSRC declared with `a=ssrc`, with the attributes we use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SsrcInfo {
    /// The SSRC.
    pub ssrc: u32,
    /// `a=ssrc:<ssrc> cname:<cname>`.
    pub cname: Option<String>,
    /// `a=ssrc:<ssrc> msid:<stream> <track>`.
    pub msid: Option<Msid>,
}

/// An `a=ssrc-group:FID <primary> <rtx>` pair (RFC 4588 retransmission).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtxPair {
    /// The media SSRC.
    pub primary: u32,
    /// The SSRC that carries its retransmissions.
    pub rtx: u32,
}

/// Whether a rid (or a simulcast list) is for sending or receiving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RidDirection {
    /// The writer sends this RTP stream.
    Send,
    /// The writer receives this RTP stream.
    Recv,
}

impl RidDirection {
    /// The token as written.
    pub fn as_str(self) -> &'static str {
        match self {
            RidDirection::Send => "send",
            RidDirection::Recv => "recv",
        }
    }

    /// The other side's direction.
    pub fn reversed(self) -> Self {
        match self {
            RidDirection::Send => RidDirection::Recv,
            RidDirection::Recv => RidDirection::Send,
        }
    }
}

/// One `a=rid:<id> <send|recv> [restrictions]` line (RFC 8851).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rid {
    /// The RTP stream id, as carried in the rid header extension.
    pub id: String,
    /// Send or receive.
    pub direction: RidDirection,
    /// Restrictions as written (`pt=96;max-width=640`), if any.
    pub restrictions: Option<String>,
}

/// One simulcast stream listed by `a=simulcast` (RFC 8853).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SimulcastLayer {
    /// The rid of the stream (the first alternative, when several are listed).
    pub rid: String,
    /// Written with a `~` prefix: offered but paused.
    pub paused: bool,
}

/// `a=simulcast:<send|recv> <rid>;<rid>;...` — one direction, as browsers use it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Simulcast {
    /// Whether the writer sends or receives these streams.
    pub direction: RidDirection,
    /// The streams, in the order written (Chromium: lowest resolution first
    /// when `sendEncodings` is ordered that way).
    pub layers: Vec<SimulcastLayer>,
}

/// The ICE candidate types (RFC 8445 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateKind {
    /// `typ host`.
    Host,
    /// `typ srflx`.
    ServerReflexive,
    /// `typ prflx`.
    PeerReflexive,
    /// `typ relay`.
    Relay,
}

impl CandidateKind {
    /// The `typ` token.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateKind::Host => "host",
            CandidateKind::ServerReflexive => "srflx",
            CandidateKind::PeerReflexive => "prflx",
            CandidateKind::Relay => "relay",
        }
    }
}

/// A UDP ICE candidate with an IP literal (`a=candidate`). Others (TCP,
/// mDNS host names) are skipped by the parser: an ICE-lite agent learns the
/// peer's address from its checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// The foundation token.
    pub foundation: String,
    /// The component (1 = RTP; with rtcp-mux the only one).
    pub component: u8,
    /// The candidate priority.
    pub priority: u32,
    /// The transport address.
    pub address: SocketAddr,
    /// The candidate type.
    pub kind: CandidateKind,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection {
    /// `a=mid`: the stable name of the section across renegotiations.
    pub mid: String,
    /// The media type.
    pub kind: MediaKind,
    /// The `m=` port: 0 means the section is rejected or stopped (RFC 8843:
    /// a bundled section otherwise carries 9 or the bundle address's port).
    pub port: u16,
    /// The `m=` proto field, e.g. `UDP/TLS/RTP/SAVPF`.
    pub proto: String,
    /// The direction attribute (sendrecv when not written).
    pub direction: Direction,
    /// Payload types in `m=` order, each with its rtpmap/fmtp/rtcp-fb.
    pub codecs: Vec<PayloadFormat>,
    /// Header extension ids.
    pub extensions: Vec<HeaderExtension>,
    /// Media-level `a=msid`.
    pub msid: Option<Msid>,
    /// SSRCs declared with `a=ssrc`, in first-seen order.
    pub ssrcs: Vec<SsrcInfo>,
    /// `a=ssrc-group:FID` pairs.
    pub rtx_pairs: Vec<RtxPair>,
    /// `a=rid` lines.
    pub rids: Vec<Rid>,
    /// `a=simulcast`, when present.
    pub simulcast: Option<Simulcast>,
    /// `a=rtcp-mux`.
    pub rtcp_mux: bool,
    /// `a=rtcp-rsize`.
    pub rtcp_rsize: bool,
    /// Usable candidates.
    pub candidates: Vec<Candidate>,
    /// `a=end-of-candidates`.
    pub end_of_candidates: bool,
}

impl MediaSection {
    /// Whether the section is rejected or stopped (port 0).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// The codec for a payload type.
    pub fn codec(&self, pt: u8) -> Option<&PayloadFormat> {
        self.codecs.iter().find(|c| c.pt == pt)
    }

    /// The RTX payload type that repairs `pt`, if any.
    pub fn rtx_for(&self, pt: u8) -> Option<&PayloadFormat> {
        self.codecs
            .iter()
            .find(|c| c.name == CodecName::Rtx && c.apt() == Some(pt))
    }

    /// The id negotiated for a header extension.
    pub fn extension_id(&self, uri: &ExtensionUri) -> Option<u8> {
        self.extensions.iter().find(|e| &e.uri == uri).map(|e| e.id)
    }

    /// The media codecs (not RTX, RED or FEC) that the SFU can route.
    pub fn media_codecs(&self) -> impl Iterator<Item = &PayloadFormat> {
        self.codecs.iter().filter(|c| {
            matches!(
                c.name,
                CodecName::Opus
                    | CodecName::Vp8
                    | CodecName::Vp9
                    | CodecName::H264
                    | CodecName::Av1
            )
        })
    }
}

/// A whole session description, offer or answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` session version (incremented by each new offer from the same side).
    pub session_version: u64,
    /// `a=ice-lite` at session level.
    pub ice_lite: bool,
    /// `a=extmap-allow-mixed` at session level.
    pub extmap_allow_mixed: bool,
    /// The mids of the `a=group:BUNDLE` group, empty when absent.
    pub bundle: Vec<String>,
    /// ICE credentials: from the first bundled section, else session level.
    pub ice: Option<IceParameters>,
    /// DTLS fingerprint: from the first bundled section, else session level.
    pub fingerprint: Option<Fingerprint>,
    /// DTLS role: from the first bundled section, else session level.
    pub setup: Option<Setup>,
    /// The m-sections in order.
    pub sections: Vec<MediaSection>,
}

impl Description {
    /// The section whose transport attributes describe the session: under
    /// BUNDLE the first live bundled one (RFC 8843's "tagged" section),
    /// otherwise the first live one.
    pub(crate) fn tagged_index(sections: &[MediaSection], bundle: &[String]) -> Option<usize> {
        sections
            .iter()
            .position(|s| !s.is_rejected() && (bundle.is_empty() || bundle.contains(&s.mid)))
    }

    /// The section with this mid.
    pub fn section(&self, mid: &str) -> Option<&MediaSection> {
        self.sections.iter().find(|s| s.mid == mid)
    }
}

impl From<&crate::ice::IceCredentials> for IceParameters {
    fn from(local: &crate::ice::IceCredentials) -> Self {
        IceParameters {
            ufrag: local.ufrag().to_owned(),
            pwd: local.pwd().to_owned(),
        }
    }
}
