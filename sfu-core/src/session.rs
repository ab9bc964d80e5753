//! Sessions and the subscriptions they pull.

use std::time::{Duration, Instant};

use crate::packet::ExtensionMap;
use crate::policy::{ReceiverFeedback, SubscriptionPolicy};
use crate::rewrite::{ResumePoint, Rewriter};
use crate::track::{CodecConfig, TrackId};
use crate::{LayerIndex, Map, SessionId, SubscriptionId};

/// What the application says about a session when it creates it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionConfig {
    /// Header-extension ids negotiated for this session's transport (from its
    /// SDP; with BUNDLE they hold for every m-section). Used to read
    /// publishers' packets and to write subscribers' packets.
    pub extensions: ExtensionMap,
    /// The SSRC the router uses as sender of RTCP feedback toward this
    /// session; derived from the session id when `None`.
    pub rtcp_ssrc: Option<u32>,
}

/// What a session wants when it pulls a track.
#[non_exhaustive]
pub struct PullConfig {
    /// The SSRC the subscriber will receive the track on.
    pub ssrc: u32,
    /// The RTX SSRC, if the subscriber negotiated RTX.
    pub rtx_ssrc: Option<u32>,
    /// The payload types the subscriber accepts (mapped by codec).
    pub codecs: Vec<CodecConfig>,
    /// The mid of the subscriber's m-section, written in the mid extension.
    pub mid: Option<String>,
    /// The layer policy; when `None` the router picks [`crate::ForwardAll`]
    /// for single-layer tracks and [`crate::Simulcast`] (highest, auto
    /// fallback) for simulcast ones when the track appears.
    pub policy: Option<Box<dyn SubscriptionPolicy>>,
    /// Continue the numbering of an earlier subscription on the same SSRC.
    pub resume: Option<ResumePoint>,
}

impl std::fmt::Debug for PullConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullConfig")
            .field("ssrc", &self.ssrc)
            .field("rtx_ssrc", &self.rtx_ssrc)
            .field("codecs", &self.codecs)
            .field("mid", &self.mid)
            .field("policy", &self.policy.as_ref().map(|_| "custom"))
            .field("resume", &self.resume)
            .finish()
    }
}

impl PullConfig {
    /// A pull delivered on `ssrc` with these payload types.
    pub fn new(ssrc: u32, codecs: Vec<CodecConfig>) -> Self {
        Self {
            ssrc,
            rtx_ssrc: None,
            codecs,
            mid: None,
            policy: None,
            resume: None,
        }
    }

    /// Continues an earlier subscription's sequence numbers and timestamps
    /// (from [`crate::RouterEvent::SubscriptionEnded`]), so the subscriber sees
    /// one stream across a publisher's restart.
    pub fn resume(mut self, point: ResumePoint) -> Self {
        self.resume = Some(point);
        self
    }

    /// Sets the layer policy.
    pub fn with_policy(mut self, policy: impl SubscriptionPolicy) -> Self {
        self.policy = Some(Box::new(policy));
        self
    }

    /// Sets the subscriber's mid.
    pub fn with_mid(mut self, mid: impl Into<String>) -> Self {
        self.mid = Some(mid.into());
        self
    }

    /// Sets the RTX SSRC.
    pub fn with_rtx(mut self, rtx_ssrc: u32) -> Self {
        self.rtx_ssrc = Some(rtx_ssrc);
        self
    }
}

/// How an incoming SSRC of a publisher session is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SsrcRoute {
    pub track: TrackId,
    pub layer: LayerIndex,
    pub rtx: bool,
}

#[derive(Debug)]
pub(crate) struct Session {
    pub config: SessionConfig,
    pub rtcp_ssrc: u32,
    pub tracks: Map<String, TrackId>,
    pub ssrcs: Map<u32, SsrcRoute>,
    pub pulls: Vec<SubscriptionId>,
    /// Outgoing SSRC (media or RTX) to the subscription it belongs to.
    pub out_ssrcs: Map<u32, SubscriptionId>,
    pub transport_cc_seq: u16,
    pub rtt: Option<Duration>,
    /// Arrivals of this session's packets, for its congestion control.
    pub twcc: crate::twcc::TwccRecorder,
}

impl Session {
    pub fn new(id: SessionId, config: SessionConfig) -> Self {
        let rtcp_ssrc = config
            .rtcp_ssrc
            .unwrap_or(0x5F00_0000 ^ (id.as_u64() as u32));
        Self {
            config,
            rtcp_ssrc,
            tracks: Map::default(),
            ssrcs: Map::default(),
            pulls: Vec::new(),
            out_ssrcs: Map::default(),
            transport_cc_seq: 0,
            rtt: None,
            twcc: Default::default(),
        }
    }
}

/// Sender reports we sent to a subscriber, to turn its LSR/DLSR into an RTT.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SentReports {
    entries: [(u32, Option<Instant>); 4],
    next: usize,
}

impl SentReports {
    pub fn record(&mut self, ntp: u64, at: Instant) {
        self.entries[self.next % 4] = ((ntp >> 16) as u32, Some(at));
        self.next += 1;
    }

    pub fn sent_at(&self, lsr: u32) -> Option<Instant> {
        self.entries
            .iter()
            .find(|(mid, at)| *mid == lsr && at.is_some())
            .and_then(|(_, at)| *at)
    }
}

pub(crate) struct Subscription {
    pub subscriber: SessionId,
    pub publisher: SessionId,
    pub track_name: String,
    pub track: Option<TrackId>,
    pub ssrc: u32,
    pub rtx_ssrc: Option<u32>,
    /// The next sequence number of the RTX stream, which numbers its own
    /// packets (RFC 4588 §4): the original's rides in the OSN.
    pub rtx_seq: u16,
    pub codecs: Vec<CodecConfig>,
    pub mid: Option<String>,
    pub policy: Option<Box<dyn SubscriptionPolicy>>,
    pub rewriter: Rewriter,
    /// The layer the policy asked for last.
    pub target: Option<LayerIndex>,
    pub packets_sent: u32,
    pub octets_sent: u32,
    pub switches: u64,
    pub keyframe_requests_received: u64,
    pub nacks_received: u64,
    pub sent_reports: SentReports,
    pub feedback: ReceiverFeedback,
}

impl Subscription {
    /// The subscriber's payload type (and RTX payload type) for a publisher codec.
    pub fn map_codec(&self, codec: &CodecConfig) -> Option<&CodecConfig> {
        self.codecs.iter().find(|c| c.codec == codec.codec)
    }
}
