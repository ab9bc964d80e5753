//! Published tracks and their simulcast layers: what a publisher announces
//! (`TrackConfig`) and what the router learns while media flows (`Track`).

use std::time::Instant;

use crate::error::{Error, Limit};
use crate::policy::LayerInfo;
use sfu_nack::SeqUnwrapper;

use crate::receive::{RateMeter, ReceiveStats, SenderClock};
use crate::{LayerIndex, SessionId};

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// An audio track: one layer, no keyframes.
    Audio,
    /// A video track: one to three simulcast layers.
    Video,
}

/// The codecs the router knows how to find keyframes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus audio.
    Opus,
    /// VP8 (RFC 7741).
    Vp8,
    /// VP9 (RFC 9628).
    Vp9,
    /// H.264 (RFC 6184).
    H264,
    /// AV1 (AOM RTP payload format).
    Av1,
    /// Anything else: forwarded, every packet treated as a start point.
    Other,
}

impl Codec {
    /// The codec an SDP `a=rtpmap` encoding name designates.
    pub fn from_encoding_name(name: &str) -> Self {
        match name.to_ascii_lowercase().as_str() {
            "opus" => Codec::Opus,
            "vp8" => Codec::Vp8,
            "vp9" => Codec::Vp9,
            "h264" => Codec::H264,
            "av1" | "av1x" => Codec::Av1,
            _ => Codec::Other,
        }
    }
}

/// One negotiated payload type of a track (publisher side) or of a pull
/// (subscriber side): the router maps between the two by [`Codec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecConfig {
    /// The payload type number.
    pub payload_type: u8,
    /// Which codec it carries.
    pub codec: Codec,
    /// RTP clock rate in Hz (90 000 for video, 48 000 for Opus).
    pub clock_rate: u32,
    /// The RTX payload type associated with it (`a=fmtp:<rtx> apt=<pt>`).
    pub rtx_payload_type: Option<u8>,
}

impl CodecConfig {
    /// A codec at its usual clock rate, without RTX.
    pub fn new(payload_type: u8, codec: Codec) -> Self {
        let clock_rate = if codec == Codec::Opus { 48_000 } else { 90_000 };
        Self {
            payload_type,
            codec,
            clock_rate,
            rtx_payload_type: None,
        }
    }

    /// Adds an RTX payload type.
    pub fn with_rtx(mut self, rtx_payload_type: u8) -> Self {
        self.rtx_payload_type = Some(rtx_payload_type);
        self
    }
}

/// One simulcast layer as announced: by RID (Chromium's `sendEncodings`, where
/// SSRCs are learned from the RID header extension) or by SSRC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerConfig {
    /// The RTP stream id (`a=rid`).
    pub rid: Option<String>,
    /// The media SSRC, when signalled.
    pub ssrc: Option<u32>,
    /// The RTX SSRC (`a=ssrc-group:FID`), when signalled.
    pub rtx_ssrc: Option<u32>,
}

impl LayerConfig {
    /// A layer identified by SSRC.
    pub fn ssrc(ssrc: u32) -> Self {
        Self {
            ssrc: Some(ssrc),
            ..Self::default()
        }
    }

    /// A layer identified by RID.
    pub fn rid(rid: impl Into<String>) -> Self {
        Self {
            rid: Some(rid.into()),
            ..Self::default()
        }
    }

    /// Adds the RTX SSRC.
    pub fn with_rtx(mut self, rtx_ssrc: u32) -> Self {
        self.rtx_ssrc = Some(rtx_ssrc);
        self
    }
}

/// How the router asks this publisher for a keyframe (what its SDP offered
/// in `a=rtcp-fb`: `nack pli` or `ccm fir`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyframeRequestKind {
    /// Picture Loss Indication (RFC 4585).
    #[default]
    Pli,
    /// Full Intra Request (RFC 5104).
    Fir,
}

/// What a session announces when it pushes a track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackConfig {
    /// The name, unique within the session; others pull `(session, name)`.
    pub name: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// The payload types the publisher sends.
    pub codecs: Vec<CodecConfig>,
    /// The publisher's m-section mid, used to bind RID-announced layers.
    pub mid: Option<String>,
    /// Layers from lowest to highest quality (one for audio and plain video).
    pub layers: Vec<LayerConfig>,
    /// How to ask the publisher for keyframes.
    pub keyframe_request: KeyframeRequestKind,
}

impl TrackConfig {
    /// An audio track with one SSRC and Opus on `payload_type`.
    pub fn audio(name: impl Into<String>, ssrc: u32, payload_type: u8) -> Self {
        Self {
            name: name.into(),
            kind: MediaKind::Audio,
            codecs: vec![CodecConfig::new(payload_type, Codec::Opus)],
            mid: None,
            layers: vec![LayerConfig::ssrc(ssrc)],
            keyframe_request: KeyframeRequestKind::Pli,
        }
    }

    /// A video track with the given codec and layers (lowest quality first).
    pub fn video(name: impl Into<String>, codec: CodecConfig, layers: Vec<LayerConfig>) -> Self {
        Self {
            name: name.into(),
            kind: MediaKind::Video,
            codecs: vec![codec],
            mid: None,
            layers,
            keyframe_request: KeyframeRequestKind::Pli,
        }
    }

    /// Sets the mid of the publisher's m-section.
    pub fn with_mid(mut self, mid: impl Into<String>) -> Self {
        self.mid = Some(mid.into());
        self
    }

    pub(crate) fn validate(&self, max_name_len: usize) -> Result<(), Error> {
        if self.name.is_empty() {
            return Err(Error::InvalidTrack("empty track name"));
        }
        if self.name.len() > max_name_len {
            return Err(Error::LimitExceeded(Limit::TrackNameLength));
        }
        if self.layers.is_empty() {
            return Err(Error::InvalidTrack("a track needs at least one layer"));
        }
        if self.layers.len() > 3 {
            return Err(Error::LimitExceeded(Limit::Layers));
        }
        if self.kind == MediaKind::Audio && self.layers.len() != 1 {
            return Err(Error::InvalidTrack("audio tracks have exactly one layer"));
        }
        if self.codecs.is_empty() || self.codecs.len() > 16 {
            return Err(Error::InvalidTrack("a track needs 1 to 16 payload types"));
        }
        if self
            .layers
            .iter()
            .any(|l| l.rid.is_none() && l.ssrc.is_none())
        {
            return Err(Error::InvalidTrack("every layer needs a rid or an ssrc"));
        }
        if self.layers.len() > 1
            && self.layers.iter().any(|l| l.rid.is_some())
            && self.mid.is_none()
        {
            return Err(Error::InvalidTrack(
                "RID-announced layers need the track's mid",
            ));
        }
        Ok(())
    }
}

/// Identifies a published track inside the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackId(pub(crate) u32);

/// Receive-side state of one layer.
#[derive(Debug)]
pub(crate) struct Layer {
    pub ssrc: Option<u32>,
    pub rtx_ssrc: Option<u32>,
    pub unwrap: SeqUnwrapper,
    pub receive: ReceiveStats,
    pub sender_clock: Option<SenderClock>,
    pub last_packet_at: Option<Instant>,
    pub rate: RateMeter,
    pub last_keyframe_request: Option<Instant>,
    /// `keyframes` when the last request went out: more since means it
    /// was answered.
    pub keyframes_at_request: u64,
    pub keyframe_requests_sent: u64,
    pub keyframe_requests_suppressed: u64,
    pub keyframes: u64,
    /// FIR command sequence number (RFC 5104 §4.3.1.1).
    pub fir_seq: u8,
}

/// A published track.
#[derive(Debug)]
pub(crate) struct Track {
    pub session: SessionId,
    pub config: TrackConfig,
    pub layers: Vec<Layer>,
    /// What subscription policies see, updated in place (no per-packet allocation).
    pub info: Vec<LayerInfo>,
    pub subscribers: Vec<crate::SubscriptionId>,
}

impl Track {
    pub fn new(session: SessionId, config: TrackConfig) -> Self {
        let layers = config
            .layers
            .iter()
            .map(|l| Layer {
                ssrc: l.ssrc,
                rtx_ssrc: l.rtx_ssrc,
                unwrap: SeqUnwrapper::new(),
                receive: ReceiveStats::default(),
                sender_clock: None,
                last_packet_at: None,
                rate: RateMeter::default(),
                last_keyframe_request: None,
                keyframes_at_request: 0,
                keyframe_requests_sent: 0,
                keyframe_requests_suppressed: 0,
                keyframes: 0,
                fir_seq: 0,
            })
            .collect();
        let info = config
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| LayerInfo {
                index: LayerIndex(i as u8),
                rid: l.rid.clone(),
                active: false,
                bitrate_bps: 0,
            })
            .collect();
        Self {
            session,
            config,
            layers,
            info,
            subscribers: Vec::new(),
        }
    }

    pub fn codec_by_pt(&self, pt: u8) -> Option<&CodecConfig> {
        self.config.codecs.iter().find(|c| c.payload_type == pt)
    }

    pub fn codec_by_rtx_pt(&self, rtx_pt: u8) -> Option<&CodecConfig> {
        self.config
            .codecs
            .iter()
            .find(|c| c.rtx_payload_type == Some(rtx_pt))
    }

    pub fn layer_by_rid(&self, rid: &[u8]) -> Option<LayerIndex> {
        self.config
            .layers
            .iter()
            .position(|l| l.rid.as_deref().map(str::as_bytes) == Some(rid))
            .map(|i| LayerIndex(i as u8))
    }

    pub fn layer(&self, index: LayerIndex) -> Option<&Layer> {
        self.layers.get(usize::from(index.0))
    }

    pub fn layer_mut(&mut self, index: LayerIndex) -> Option<&mut Layer> {
        self.layers.get_mut(usize::from(index.0))
    }
}
