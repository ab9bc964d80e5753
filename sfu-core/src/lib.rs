//! `sfu-core` is the sans-IO packet router of a WebRTC SFU: it decides, for
//! every RTP packet a publisher sends, which subscribers get it, from which
//! simulcast layer, and with what header. It knows sessions, tracks,
//! subscriptions, layers and RTCP feedback; it deliberately knows nothing of
//! sockets, ICE, DTLS, SRTP or SDP text (that is `sfu-net`), and it never
//! reads a clock: time is always an argument.
//!
//! # Model
//!
//! As in Cloudflare's Realtime SFU there are no rooms. A **session** is one
//! client transport (one PeerConnection). A session **pushes** tracks, each
//! with a name unique in the session, and **pulls** any track of any other
//! session by `(session, name)` — even before it is published (the
//! subscription waits, then becomes active). A pulled track is a
//! **subscription**, whose pluggable [`SubscriptionPolicy`] picks the
//! simulcast layer.
//!
//! # The run loop
//!
//! 1. Feed input with [`Router::handle_rtp`], [`Router::handle_rtcp`] (already
//!    decrypted, per session) and [`Router::handle_timeout`] when the deadline
//!    from [`Router::poll_timeout`] passes. Commands (`create_session`,
//!    `publish_track`, `pull_track`, `hint`, `close_*`) take effect at once.
//! 2. Drain [`Router::poll_output`] until it returns `None`: each item is an
//!    RTP packet ([`OutboundRtp`], serialize it with
//!    [`OutboundRtp::write_to`]) or an RTCP packet for one session.
//! 3. Drain [`Router::poll_event`] for what the application should act on
//!    (subscriptions becoming active or ending, layer switches).
//! 4. Sleep until [`Router::poll_timeout`] or the next packet.
//!
//! Outputs accumulate until drained; drain after every call.
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use sfu_core::{Router, RouterConfig, SessionConfig, TrackConfig, PullConfig, CodecConfig, Codec, Output};
//!
//! let now = Instant::now();
//! let mut router = Router::new(RouterConfig::default());
//! let alice = router.create_session(now, SessionConfig::default())?;
//! let bob = router.create_session(now, SessionConfig::default())?;
//! router.publish_track(now, alice, TrackConfig::audio("mic", 0x1111, 111))?;
//! router.pull_track(now, bob, alice, "mic",
//!     PullConfig::new(0x2222, vec![CodecConfig::new(109, Codec::Opus)]))?;
//!
//! // An Opus packet from Alice...
//! let rtp = [0x80, 111, 0, 1, 0, 0, 0, 160, 0, 0, 0x11, 0x11, 0xfc, 0xff];
//! router.handle_rtp(now, alice, Bytes::copy_from_slice(&rtp))?;
//! // ...reaches Bob with his SSRC and payload type.
//! match router.poll_output() {
//!     Some(Output::Rtp { session, packet, .. }) => {
//!         assert_eq!(session, bob);
//!         assert_eq!((packet.ssrc, packet.payload_type), (0x2222, 109));
//!     }
//!     other => panic!("expected RTP, got {other:?}"),
//! }
//! # Ok::<(), sfu_core::Error>(())
//! ```
//!
//! # What the router does on each hop
//!
//! - Rewrites SSRC, sequence numbers (no gaps from dropped layers, real
//!   losses stay visible), timestamps (continuous across layer switches),
//!   payload types and header-extension ids per subscriber, and removes
//!   extensions the subscriber did not negotiate.
//! - Switches layers only at a keyframe of the target layer (VP8, VP9,
//!   H.264, AV1 detected from the payload).
//! - Terminates RTCP: PLI/FIR from any number of subscribers become at most
//!   one upstream request per layer per interval (half of it while the
//!   last one is unanswered, so a lost request or a lost keyframe packet
//!   costs less than an interval per hop); sender reports are
//!   regenerated per subscriber with its timestamps and the publisher's NTP
//!   clock; receiver reports to publishers are generated here; NACKs go to a
//!   pluggable [`LossRecovery`].
//! - Treats input as hostile: unknown SSRCs and malformed packets are
//!   dropped with a typed error and counted; every map is bounded.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod error;
mod keyframe;
mod outbound;
mod packet;
mod policy;
mod receive;
mod recovery;
mod rewrite;
mod router;
mod rtcp;
mod session;
mod shield;
mod track;
mod twcc;

use std::fmt;
use std::time::Duration;

pub use error::{Error, Limit, RtpError};
pub use keyframe::starts_keyframe;
pub use outbound::{OutboundExtensions, OutboundRtp};
pub use packet::{ExtensionKind, ExtensionMap, RtpPacket};
pub use policy::{
    Fallback, ForwardAll, Hint, LayerInfo, PacketInfo, Pinned, ReceiverFeedback, Selection,
    Simulcast, SubscriptionPolicy,
};
pub use recovery::{ForwardNacks, LossRecovery, RecoveryAction, RecoveryActions, StreamKey};
pub use rewrite::ResumePoint;
pub use router::{
    EndReason, Output, Router, RouterEvent, RouterStats, SubscriptionInfo, SubscriptionStatus,
};
pub use session::{PullConfig, SessionConfig};
pub use shield::{Shield, ShieldConfig, ShieldStats};
pub use track::{
    Codec, CodecConfig, KeyframeRequestKind, LayerConfig, MediaKind, TrackConfig, TrackId,
};

/// The router's maps. Their keys are either ids the router assigned or
/// SSRCs in maps bounded to a session's few announced streams, so a fast
/// non-keyed hash is safe here (no attacker can grow a bucket), and SipHash
/// was a quarter of the forwarding cost.
pub(crate) type Map<K, V> = std::collections::HashMap<K, V, rustc_hash::FxBuildHasher>;

/// Identifies a session (one client transport).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u64);

impl SessionId {
    /// The numeric value, e.g. to build a resource URL.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session#{}", self.0)
    }
}

/// Identifies a subscription (one pulled track in one session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(u64);

impl SubscriptionId {
    /// The numeric value.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "subscription#{}", self.0)
    }
}

/// A simulcast layer's position in its track (0 = lowest quality).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LayerIndex(pub u8);

/// Bounds on what sessions may create; exceeding one is a typed error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Sessions in the router.
    pub max_sessions: usize,
    /// Tracks one session may publish.
    pub max_tracks_per_session: usize,
    /// Tracks one session may pull (waiting ones included).
    pub max_subscriptions_per_session: usize,
    /// Subscribers of one track.
    pub max_subscribers_per_track: usize,
    /// Bytes in a track name.
    pub max_track_name_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sessions: 10_000,
            max_tracks_per_session: 64,
            max_subscriptions_per_session: 512,
            max_subscribers_per_track: 10_000,
            max_track_name_len: 128,
        }
    }
}

// Fields stay public for reading; new ones may be added, so users start
// from `default()` and chain these setters instead of writing literals.
impl Limits {
    /// Sets [`Limits::max_sessions`].
    pub fn with_max_sessions(mut self, max_sessions: usize) -> Self {
        self.max_sessions = max_sessions;
        self
    }

    /// Sets [`Limits::max_tracks_per_session`].
    pub fn with_max_tracks_per_session(mut self, max_tracks_per_session: usize) -> Self {
        self.max_tracks_per_session = max_tracks_per_session;
        self
    }

    /// Sets [`Limits::max_subscriptions_per_session`].
    pub fn with_max_subscriptions_per_session(
        mut self,
        max_subscriptions_per_session: usize,
    ) -> Self {
        self.max_subscriptions_per_session = max_subscriptions_per_session;
        self
    }

    /// Sets [`Limits::max_subscribers_per_track`].
    pub fn with_max_subscribers_per_track(mut self, max_subscribers_per_track: usize) -> Self {
        self.max_subscribers_per_track = max_subscribers_per_track;
        self
    }

    /// Sets [`Limits::max_track_name_len`].
    pub fn with_max_track_name_len(mut self, max_track_name_len: usize) -> Self {
        self.max_track_name_len = max_track_name_len;
        self
    }
}

/// Router-wide settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterConfig {
    /// Limits on sessions, tracks and subscriptions.
    pub limits: Limits,
    /// At most one keyframe request per layer is sent upstream per interval,
    /// however many subscribers ask.
    pub keyframe_request_interval: Duration,
    /// How often receiver reports go to publishers.
    pub receiver_report_interval: Duration,
    /// A layer with no packet for this long is inactive for policies.
    pub layer_inactive_after: Duration,
    /// How often transport-wide congestion control feedback goes to
    /// publishers that negotiated the transport-cc extension.
    pub transport_feedback_interval: Duration,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            keyframe_request_interval: Duration::from_millis(500),
            receiver_report_interval: Duration::from_secs(1),
            layer_inactive_after: Duration::from_secs(1),
            transport_feedback_interval: Duration::from_millis(100),
        }
    }
}

// Fields stay public for reading; new ones may be added, so users start
// from `default()` and chain these setters instead of writing literals.
impl RouterConfig {
    /// Sets [`RouterConfig::limits`].
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`RouterConfig::keyframe_request_interval`].
    pub fn with_keyframe_request_interval(mut self, keyframe_request_interval: Duration) -> Self {
        self.keyframe_request_interval = keyframe_request_interval;
        self
    }

    /// Sets [`RouterConfig::receiver_report_interval`].
    pub fn with_receiver_report_interval(mut self, receiver_report_interval: Duration) -> Self {
        self.receiver_report_interval = receiver_report_interval;
        self
    }

    /// Sets [`RouterConfig::layer_inactive_after`].
    pub fn with_layer_inactive_after(mut self, layer_inactive_after: Duration) -> Self {
        self.layer_inactive_after = layer_inactive_after;
        self
    }

    /// Sets [`RouterConfig::transport_feedback_interval`].
    pub fn with_transport_feedback_interval(
        mut self,
        transport_feedback_interval: Duration,
    ) -> Self {
        self.transport_feedback_interval = transport_feedback_interval;
        self
    }
}
