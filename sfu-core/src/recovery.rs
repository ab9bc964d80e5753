//! The loss-recovery hook: what happens to NACKs. The router maps a
//! subscriber's NACKed sequence numbers back to the publisher's and hands
//! them to a [`LossRecovery`]; what it does with them is pluggable. The
//! default, [`ForwardNacks`], is the common SFU baseline: ask the publisher.
//! `sfu-nack`'s shield answers from a cache instead.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::packet::RtpPacket;
use crate::{LayerIndex, SessionId, SubscriptionId, TrackId};

/// One published stream: a layer of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamKey {
    /// The track.
    pub track: TrackId,
    /// The layer within it.
    pub layer: LayerIndex,
}

/// Something a [`LossRecovery`] wants the router to do.
#[derive(Debug, Clone)]
pub enum RecoveryAction {
    /// Send a generic NACK to the publisher of `stream` for these
    /// (publisher-side, extended) sequence numbers.
    NackUpstream {
        /// The stream the packets belong to.
        stream: StreamKey,
        /// Extended sequence numbers.
        seqs: Vec<u64>,
    },
    /// Retransmit a publisher packet to one subscriber (as RTX when it
    /// negotiated RTX, else as a plain retransmission).
    Retransmit {
        /// Who gets it.
        subscription: SubscriptionId,
        /// The stream it came from.
        stream: StreamKey,
        /// Its extended sequence number on that stream.
        ext_seq: u64,
        /// The original packet.
        packet: RtpPacket,
    },
}

/// Where a [`LossRecovery`] queues its actions; the router drains it.
#[derive(Debug, Default)]
pub struct RecoveryActions {
    queue: VecDeque<RecoveryAction>,
}

impl RecoveryActions {
    /// Queues an action.
    pub fn push(&mut self, action: RecoveryAction) {
        self.queue.push_back(action);
    }

    pub(crate) fn pop(&mut self) -> Option<RecoveryAction> {
        self.queue.pop_front()
    }
}

/// The pluggable loss-recovery hook. All methods take time as an input.
pub trait LossRecovery: Send + 'static {
    /// A publisher packet arrived (`repaired`: it came as RTX or a
    /// retransmission). Returns whether the router fans it out to the
    /// subscribers (the default); a hook that delivers repairs itself
    /// returns `false` for packets this hop already forwarded, so nobody
    /// gets one twice. Runs on the hot path: must not allocate in the
    /// steady state.
    fn on_publisher_packet(
        &mut self,
        _now: Instant,
        _stream: StreamKey,
        _ext_seq: u64,
        _packet: &RtpPacket,
        _repaired: bool,
        _actions: &mut RecoveryActions,
    ) -> bool {
        true
    }

    /// `subscription` lost these packets of `stream` (publisher-side
    /// extended sequence numbers).
    fn on_nack(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
        stream: StreamKey,
        lost: &[u64],
        actions: &mut RecoveryActions,
    );

    /// `session` published `track` (before any of its packets): lets a hook
    /// that keeps per-stream state share it out per publishing session.
    fn on_track_published(&mut self, _track: TrackId, _session: SessionId) {}

    /// The router measured the round trip to `subscription`'s subscriber
    /// (from a receiver report answering one of its sender reports): a
    /// hook that retransmits can pace repeats by it.
    fn on_subscription_rtt(&mut self, _subscription: SubscriptionId, _rtt: Duration) {}

    /// A subscription ended: forget what it was waiting for.
    fn on_subscription_closed(&mut self, _subscription: SubscriptionId) {}

    /// A track ended: drop its caches.
    fn on_track_closed(&mut self, _track: TrackId) {}

    /// When [`LossRecovery::handle_timeout`] wants to run next.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Time passed.
    fn handle_timeout(&mut self, _now: Instant, _actions: &mut RecoveryActions) {}
}

/// The baseline: every NACK goes to the publisher, and its repairs are
/// forwarded to the subscribers like any other packet.
#[derive(Debug, Default, Clone, Copy)]
pub struct ForwardNacks;

impl LossRecovery for ForwardNacks {
    fn on_nack(
        &mut self,
        _now: Instant,
        _subscription: SubscriptionId,
        stream: StreamKey,
        lost: &[u64],
        actions: &mut RecoveryActions,
    ) {
        actions.push(RecoveryAction::NackUpstream {
            stream,
            seqs: lost.to_vec(),
        });
    }
}
