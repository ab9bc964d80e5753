//! What nodes send each other: a child's request for a relay link and the
//! parent's description of the track it relays, in JSON.

use serde::{Deserialize, Serialize};

use sfu::net::cluster::{NodeId, TrackKey};
use sfu::net::sdp::{CodecName, MediaKind, PayloadFormat, RtcpFeedback};
use sfu::net::{RelayLayer, RelayTrack};

/// Layers of one relayed track, at most (Chromium sends three).
const MAX_LAYERS: usize = 4;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Track {
    pub app: String,
    pub session: String,
    pub name: String,
}

impl Track {
    pub fn of(key: &TrackKey) -> Self {
        Self {
            app: key.app.clone(),
            session: key.session.clone(),
            name: key.name.clone(),
        }
    }

    /// The key, if every part has the shape the API hands out.
    pub fn key(&self) -> Option<TrackKey> {
        let whip = self.app == super::WHIP_APP && crate::ids::valid_name(&self.session);
        let ok = (whip || crate::ids::valid_name(&self.app) && crate::ids::is_id(&self.session))
            && crate::ids::valid_track_name(&self.name);
        ok.then(|| TrackKey {
            app: self.app.clone(),
            session: self.session.clone(),
            name: self.name.clone(),
        })
    }
}

/// `POST /cluster/v1/relay`: a child asks to be relayed `track` on the link
/// between the two nodes, keyed with `keys` (hex; SRTP AES-128-GCM keying
/// material, the child's fresh randomness for this link).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayRequest {
    pub track: Track,
    pub child: String,
    pub relay: std::net::SocketAddr,
    pub keys: String,
    /// The child's incarnation (a restart makes a new link).
    #[serde(default)]
    pub incarnation: u64,
}

/// `POST /cluster/v1/unrelay`: a child no longer wants `track` from us.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnrelayRequest {
    pub track: Track,
    pub child: String,
}

impl RelayRequest {
    pub fn child(&self) -> Option<NodeId> {
        NodeId::new(&self.child)
    }
}

impl UnrelayRequest {
    pub fn child(&self) -> Option<NodeId> {
        NodeId::new(&self.child)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    pub rid: Option<String>,
    pub ssrc: u32,
    pub rtx_ssrc: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Format {
    pub pt: u8,
    pub name: String,
    pub clock_rate: u32,
    pub channels: Option<u16>,
    pub fmtp: Option<String>,
    pub rtcp_fb: Vec<String>,
}

/// The parent's answer: the track as the child must publish it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relayed {
    pub name: String,
    pub video: bool,
    pub format: Format,
    pub rtx_pt: Option<u8>,
    pub layers: Vec<Layer>,
}

impl Relayed {
    pub fn of(t: &RelayTrack) -> Self {
        Self {
            name: t.name.clone(),
            video: t.kind == MediaKind::Video,
            format: Format {
                pt: t.format.pt,
                name: t.format.name.as_str().to_owned(),
                clock_rate: t.format.clock_rate,
                channels: t.format.channels,
                fmtp: t.format.fmtp.clone(),
                rtcp_fb: t
                    .format
                    .rtcp_fb
                    .iter()
                    .map(|f| f.as_str().to_owned())
                    .collect(),
            },
            rtx_pt: t.rtx_pt,
            layers: t
                .layers
                .iter()
                .map(|l| Layer {
                    rid: l.rid.clone(),
                    ssrc: l.ssrc,
                    rtx_ssrc: l.rtx_ssrc,
                })
                .collect(),
        }
    }

    /// The node's description, checked: bounded lists and strings, no
    /// repeated SSRC.
    pub fn track(&self) -> Option<RelayTrack> {
        let f = &self.format;
        let short = |s: &str| s.len() <= 256;
        if self.layers.is_empty()
            || self.layers.len() > MAX_LAYERS
            || f.rtcp_fb.len() > 16
            || !short(&f.name)
            || !f.fmtp.as_deref().is_none_or(short)
            || !f.rtcp_fb.iter().all(|x| short(x))
            || self
                .layers
                .iter()
                .any(|l| l.rid.as_deref().is_some_and(|r| r.len() > 16))
        {
            return None;
        }
        let mut ssrcs: Vec<u32> = self
            .layers
            .iter()
            .flat_map(|l| std::iter::once(l.ssrc).chain(l.rtx_ssrc))
            .collect();
        let n = ssrcs.len();
        ssrcs.sort_unstable();
        ssrcs.dedup();
        if ssrcs.len() != n {
            return None;
        }
        Some(RelayTrack {
            name: self.name.clone(),
            kind: if self.video {
                MediaKind::Video
            } else {
                MediaKind::Audio
            },
            format: PayloadFormat {
                pt: f.pt,
                name: CodecName::parse(&f.name),
                clock_rate: f.clock_rate,
                channels: f.channels,
                fmtp: f.fmtp.clone(),
                rtcp_fb: f.rtcp_fb.iter().map(|x| RtcpFeedback::parse(x)).collect(),
            },
            rtx_pt: self.rtx_pt,
            layers: self
                .layers
                .iter()
                .map(|l| RelayLayer {
                    rid: l.rid.clone(),
                    ssrc: l.ssrc,
                    rtx_ssrc: l.rtx_ssrc,
                })
                .collect(),
        })
    }
}

/// Hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of `text` (hex), at most `max`.
pub fn unhex(text: &str, max: usize) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 2 * max {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
