//! What the router hands back: outputs to send, events to act on,
//! subscription snapshots and counters.

use bytes::Bytes;

use crate::outbound::OutboundRtp;
use crate::rewrite::ResumePoint;
use crate::{LayerIndex, SessionId, SubscriptionId};

/// Something for the transport to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An RTP packet for one session.
    Rtp {
        /// The session to send it to.
        session: SessionId,
        /// The subscription it belongs to.
        subscription: SubscriptionId,
        /// The packet; serialize with [`OutboundRtp::write_to`].
        packet: OutboundRtp,
    },
    /// An RTCP packet (already serialized) for one session.
    Rtcp {
        /// The session to send it to.
        session: SessionId,
        /// The packet.
        packet: Bytes,
    },
}

/// Why a subscription ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The publisher closed the track.
    TrackClosed,
    /// The publisher's session closed (before or after publishing).
    PublisherClosed,
    /// The subscriber's own session closed.
    SubscriberClosed,
    /// The application closed the subscription.
    Unsubscribed,
}

/// Something the application may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouterEvent {
    /// A session published a track.
    TrackPublished {
        /// The publisher.
        session: SessionId,
        /// The track's name.
        name: String,
    },
    /// A subscription's track exists now (immediately, or once published).
    SubscriptionActive {
        /// The subscriber.
        subscriber: SessionId,
        /// The subscription.
        subscription: SubscriptionId,
    },
    /// A subscription ended; nothing more will be delivered on it.
    SubscriptionEnded {
        /// The subscriber.
        subscriber: SessionId,
        /// The subscription.
        subscription: SubscriptionId,
        /// Why.
        reason: EndReason,
        /// Where the subscriber's stream stopped, to continue it with
        /// [`crate::PullConfig::resume`] (`None` if nothing was sent).
        resume: Option<ResumePoint>,
    },
    /// A subscriber now receives another layer (at a keyframe).
    LayerSwitched {
        /// The subscriber.
        subscriber: SessionId,
        /// The subscription.
        subscription: SubscriptionId,
        /// The previous layer, `None` when delivery starts or resumes.
        from: Option<LayerIndex>,
        /// The new layer.
        to: LayerIndex,
    },
}

/// Where a subscription is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStatus {
    /// The track is not published yet.
    Waiting,
    /// The track exists; media flows when the policy selects a layer.
    Active,
}

/// A snapshot of one subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionInfo {
    /// Waiting or active.
    pub status: SubscriptionStatus,
    /// The subscriber.
    pub subscriber: SessionId,
    /// The publisher.
    pub publisher: SessionId,
    /// The pulled track's name.
    pub track_name: String,
    /// The layer being delivered.
    pub current_layer: Option<LayerIndex>,
    /// RTP packets delivered.
    pub packets_sent: u32,
    /// Payload bytes delivered.
    pub octets_sent: u32,
    /// Layer switches performed.
    pub switches: u64,
    /// PLI/FIR received from this subscriber.
    pub keyframe_requests_received: u64,
    /// NACKed packets received from this subscriber.
    pub nacks_received: u64,
}

/// Router-wide counters. Every dropped input is counted under its reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// RTP packets accepted from publishers.
    pub rtp_received: u64,
    /// RTP packets produced for subscribers.
    pub rtp_forwarded: u64,
    /// RTP that failed to parse.
    pub rtp_malformed: u64,
    /// RTP for SSRCs the session never announced.
    pub rtp_unknown_ssrc: u64,
    /// RTP with a payload type the track did not negotiate.
    pub rtp_unknown_payload_type: u64,
    /// RTP for sessions that do not exist.
    pub rtp_unknown_session: u64,
    /// Padding-only packets (not forwarded; sequence gaps closed).
    pub padding_dropped: u64,
    /// RTX packets decoded into their original stream.
    pub rtx_received: u64,
    /// RTCP compound packets received.
    pub rtcp_received: u64,
    /// RTCP that failed to parse.
    pub rtcp_malformed: u64,
    /// RTCP about SSRCs this session does not own.
    pub rtcp_unknown_ssrc: u64,
    /// PLI/FIR received from subscribers.
    pub keyframe_requests_received: u64,
    /// PLI sent to publishers.
    pub keyframe_requests_sent: u64,
    /// Keyframe requests absorbed by the per-layer interval.
    pub keyframe_requests_suppressed: u64,
    /// NACKed sequence numbers received from subscribers.
    pub nacks_received: u64,
    /// NACKed sequence numbers sent to publishers.
    pub nacks_sent: u64,
    /// Retransmissions sent to subscribers by the loss-recovery hook.
    pub retransmissions_sent: u64,
    /// Sender reports sent to subscribers.
    pub sender_reports_sent: u64,
    /// Receiver reports sent to publishers.
    pub receiver_reports_sent: u64,
    /// Transport-wide congestion control feedback packets sent to publishers.
    pub transport_feedback_sent: u64,
}
