//! The peer's side of offer/answer: its m-sections and how they are written
//! as SDP text, in Chromium's attribute order and with Chromium's payload
//! types and header-extension ids (see `sfu-net/tests/fixtures/`).

use std::fmt::Write as _;
use std::net::SocketAddr;

/// The `m=` media type of a section the peer can negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `m=audio`.
    Audio,
    /// `m=video`.
    Video,
}

impl MediaKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// A media direction as written by one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv` (the default when none is written).
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    pub(crate) fn parse(key: &str) -> Option<Self> {
        match key {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// Whether the writer sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the writer receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// One payload format (`a=rtpmap` + `a=fmtp` + `a=rtcp-fb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// The payload type.
    pub pt: u8,
    /// The encoding name as written (`opus`, `VP8`, `rtx`...).
    pub name: String,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// Audio channels, when written.
    pub channels: Option<u16>,
    /// The `a=fmtp` parameters, as written.
    pub fmtp: Option<String>,
    /// The `a=rtcp-fb` values (`nack`, `nack pli`, `transport-cc`...).
    pub feedback: Vec<String>,
}

impl Codec {
    /// Whether this is an RTX (RFC 4588) format.
    pub fn is_rtx(&self) -> bool {
        self.name.eq_ignore_ascii_case("rtx")
    }

    /// The `apt=` of an RTX format.
    pub fn apt(&self) -> Option<u8> {
        self.fmtp
            .as_deref()?
            .split(';')
            .find_map(|p| p.trim().strip_prefix("apt="))
            .and_then(|v| v.parse().ok())
    }

    /// Whether this is a media codec the peer can send or record (not RTX,
    /// RED, FEC, comfort noise or DTMF).
    pub fn is_media(&self) -> bool {
        ["opus", "VP8", "VP9", "H264", "AV1"]
            .iter()
            .any(|n| self.name.eq_ignore_ascii_case(n))
    }

    fn new(pt: u8, name: &str, clock_rate: u32, channels: Option<u16>) -> Self {
        Codec {
            pt,
            name: name.to_owned(),
            clock_rate,
            channels,
            fmtp: None,
            feedback: Vec::new(),
        }
    }
}

/// Header extension URIs the peer writes or reads.
pub(crate) mod uri {
    pub const AUDIO_LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
    pub const ABS_SEND_TIME: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
    pub const TRANSPORT_CC: &str =
        "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
    pub const MID: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
    pub const RID: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
    pub const REPAIRED_RID: &str = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
    /// Every URI the peer understands (an answer keeps only these).
    pub const KNOWN: [&str; 6] = [
        AUDIO_LEVEL,
        ABS_SEND_TIME,
        TRANSPORT_CC,
        MID,
        RID,
        REPAIRED_RID,
    ];
}

/// Feedback values the peer implements or tolerates (an answer keeps only these).
pub(crate) const KNOWN_FEEDBACK: [&str; 5] =
    ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"];

/// Chromium's Opus: PT 111 with in-band FEC, plus NACK and transport-cc.
pub(crate) fn opus() -> Vec<Codec> {
    let mut c = Codec::new(111, "opus", 48_000, Some(2));
    c.feedback = vec!["transport-cc".into(), "nack".into()];
    c.fmtp = Some("minptime=10;useinbandfec=1".into());
    vec![c]
}

/// Chromium's VP8: PT 96 and its RTX PT 97.
pub(crate) fn vp8() -> Vec<Codec> {
    let mut c = Codec::new(96, "VP8", 90_000, None);
    c.feedback = KNOWN_FEEDBACK.iter().map(|s| (*s).to_owned()).collect();
    let mut rtx = Codec::new(97, "rtx", 90_000, None);
    rtx.fmtp = Some("apt=96".into());
    vec![c, rtx]
}

/// Chromium's extension ids for audio sections.
pub(crate) fn audio_extensions() -> Vec<(u8, String)> {
    [
        (1, uri::AUDIO_LEVEL),
        (2, uri::ABS_SEND_TIME),
        (3, uri::TRANSPORT_CC),
        (4, uri::MID),
    ]
    .into_iter()
    .map(|(id, u)| (id, u.to_owned()))
    .collect()
}

/// Chromium's extension ids for video sections (the ones the peer uses).
pub(crate) fn video_extensions() -> Vec<(u8, String)> {
    [
        (2, uri::ABS_SEND_TIME),
        (3, uri::TRANSPORT_CC),
        (4, uri::MID),
        (10, uri::RID),
        (11, uri::REPAIRED_RID),
    ]
    .into_iter()
    .map(|(id, u)| (id, u.to_owned()))
    .collect()
}

/// One of the peer's m-sections as it writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalSection {
    pub mid: String,
    pub kind: MediaKind,
    pub direction: Direction,
    /// Rejected or stopped: written with port 0 outside the BUNDLE group.
    pub stopped: bool,
    pub codecs: Vec<Codec>,
    pub extensions: Vec<(u8, String)>,
    /// The track id of `a=msid` (sending sections only).
    pub track: Option<String>,
    /// Declared SSRCs: media SSRC and its RTX SSRC (`a=ssrc-group:FID`).
    pub ssrcs: Vec<(u32, Option<u32>)>,
    /// Simulcast rids (`a=rid:<id> send`, `a=simulcast:send`); no SSRC lines then.
    pub rids: Vec<String>,
}

/// The peer's transport attributes, the same in every section.
#[derive(Debug, Clone)]
pub(crate) struct LocalTransport {
    pub ufrag: String,
    pub pwd: String,
    /// `AA:BB:...` (SHA-256).
    pub fingerprint: String,
    pub setup: &'static str,
    pub candidate: SocketAddr,
    pub cname: String,
    pub stream: String,
}

fn ip_line(addr: &SocketAddr) -> String {
    let family = if addr.is_ipv4() { "IP4" } else { "IP6" };
    format!("IN {family} {}", addr.ip())
}

/// Writes a whole description (offer or answer) with CRLF line ends.
pub(crate) fn write(
    session_id: u64,
    version: u64,
    transport: &LocalTransport,
    sections: &[LocalSection],
) -> String {
    let mut s = String::new();
    let mut line = |l: String| {
        s.push_str(&l);
        s.push_str("\r\n");
    };
    line("v=0".into());
    line(format!("o=- {session_id} {version} IN IP4 127.0.0.1"));
    line("s=-".into());
    line("t=0 0".into());
    let bundle: Vec<&str> = sections
        .iter()
        .filter(|x| !x.stopped)
        .map(|x| x.mid.as_str())
        .collect();
    line(format!("a=group:BUNDLE {}", bundle.join(" ")));
    line("a=extmap-allow-mixed".into());
    line(format!("a=msid-semantic: WMS {}", transport.stream));
    for section in sections {
        write_section(&mut line, transport, section);
    }
    s
}

fn write_section(line: &mut impl FnMut(String), t: &LocalTransport, m: &LocalSection) {
    let pts: Vec<String> = m.codecs.iter().map(|c| c.pt.to_string()).collect();
    let pts = if pts.is_empty() {
        "0".to_owned()
    } else {
        pts.join(" ")
    };
    let port = if m.stopped { 0 } else { t.candidate.port() };
    line(format!(
        "m={} {port} UDP/TLS/RTP/SAVPF {pts}",
        m.kind.as_str()
    ));
    line(format!("c={}", ip_line(&t.candidate)));
    if m.stopped {
        line(format!("a=mid:{}", m.mid));
        line("a=inactive".into());
        return;
    }
    line("a=rtcp:9 IN IP4 0.0.0.0".into());
    line(format!(
        "a=candidate:1 1 udp 2122260223 {} {} typ host generation 0",
        t.candidate.ip(),
        t.candidate.port()
    ));
    line(format!("a=ice-ufrag:{}", t.ufrag));
    line(format!("a=ice-pwd:{}", t.pwd));
    line("a=ice-options:trickle".into());
    line(format!("a=fingerprint:sha-256 {}", t.fingerprint));
    line(format!("a=setup:{}", t.setup));
    line(format!("a=mid:{}", m.mid));
    for (id, u) in &m.extensions {
        line(format!("a=extmap:{id} {u}"));
    }
    line(format!("a={}", m.direction.as_str()));
    if let Some(track) = &m.track {
        line(format!("a=msid:{} {track}", t.stream));
    }
    line("a=rtcp-mux".into());
    line("a=rtcp-rsize".into());
    for c in &m.codecs {
        let mut rtpmap = format!("a=rtpmap:{} {}/{}", c.pt, c.name, c.clock_rate);
        if let Some(ch) = c.channels {
            let _ = write!(rtpmap, "/{ch}");
        }
        line(rtpmap);
        for fb in &c.feedback {
            line(format!("a=rtcp-fb:{} {fb}", c.pt));
        }
        if let Some(fmtp) = &c.fmtp {
            line(format!("a=fmtp:{} {fmtp}", c.pt));
        }
    }
    if m.rids.is_empty() {
        for (primary, rtx) in &m.ssrcs {
            if let Some(rtx) = rtx {
                line(format!("a=ssrc-group:FID {primary} {rtx}"));
            }
        }
        for ssrc in m
            .ssrcs
            .iter()
            .flat_map(|(p, r)| std::iter::once(*p).chain(*r))
        {
            line(format!("a=ssrc:{ssrc} cname:{}", t.cname));
            if let Some(track) = &m.track {
                line(format!("a=ssrc:{ssrc} msid:{} {track}", t.stream));
            }
        }
    } else {
        for rid in &m.rids {
            line(format!("a=rid:{rid} send"));
        }
        line(format!("a=simulcast:send {}", m.rids.join(";")));
    }
}
