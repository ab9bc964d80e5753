//! What the node's commands take and return, and what it reports.

use std::net::SocketAddr;

use sfu_core::{EndReason, SessionId};

use crate::{CloseReason, Error};

/// Whether an SDP text is an offer or an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpType {
    /// The node offers: the client must answer with
    /// [`Node::apply_answer`](super::Node::apply_answer).
    Offer,
    /// The node's answer to the client's offer.
    Answer,
}

/// An SDP text for the client, with its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// Offer or answer.
    pub kind: SdpType,
    /// The SDP text.
    pub sdp: String,
}

/// A track a client publishes, from one m-section of its offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTrack {
    /// The m-section of the client's offer.
    pub mid: String,
    /// The track's name, unique in the session: others pull `(session, name)`.
    pub name: String,
}

impl PushTrack {
    /// The track on `mid`, named `name`.
    pub fn new(mid: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            mid: mid.into(),
            name: name.into(),
        }
    }
}

/// A track a session pulls from another session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PullTrack {
    /// The publishing session.
    pub publisher: SessionId,
    /// The track's name there.
    pub name: String,
    /// Deliver into this m-section of the session: a receiving section of
    /// the client's offer given with the pull, or one of the session's
    /// idle sending sections (no renegotiation). `None`: the node adds a
    /// section in an offer of its own.
    pub mid: Option<String>,
    /// The preferred simulcast layer (RID); `None`: the highest.
    pub layer: Option<String>,
}

impl PullTrack {
    /// Pulls `(publisher, name)`.
    pub fn new(publisher: SessionId, name: impl Into<String>) -> Self {
        Self {
            publisher,
            name: name.into(),
            mid: None,
            layer: None,
        }
    }

    /// Delivers into the session's m-section `mid`.
    pub fn into_mid(mut self, mid: impl Into<String>) -> Self {
        self.mid = Some(mid.into());
        self
    }

    /// Prefers the simulcast layer `rid`.
    pub fn with_layer(mut self, rid: Option<String>) -> Self {
        self.layer = rid;
        self
    }
}

/// Where a requested track stands after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackState {
    /// Published, or pulled and delivering (or about to, once the client
    /// answers the node's offer).
    Active,
    /// Pulled before it was published: the pull starts when it is, with
    /// [`NodeEvent::NegotiationNeeded`] when the node must offer a section
    /// for it.
    Waiting,
    /// Closed.
    Closed,
}

/// The result of a command for one track: errors are per track, so one
/// bad track does not fail the others.
#[derive(Debug)]
pub struct TrackOutcome {
    /// The track's name (the publisher's name for pulled tracks).
    pub name: String,
    /// The publishing session.
    pub session: SessionId,
    /// The m-section carrying it in the commanded session, when it has one.
    pub mid: Option<String>,
    /// What happened.
    pub result: Result<TrackState, Error>,
}

/// What a command that may renegotiate returns.
#[derive(Debug)]
pub struct Negotiated {
    /// The node's answer to the client's offer, or an offer of the node's
    /// own (answer it with [`Node::apply_answer`](super::Node::apply_answer));
    /// `None` when no SDP exchange is needed.
    pub description: Option<SessionDescription>,
    /// One outcome per track of the request, in order.
    pub tracks: Vec<TrackOutcome>,
}

impl Negotiated {
    /// The SDP text, if any.
    pub fn sdp(&self) -> Option<&str> {
        self.description.as_ref().map(|d| d.sdp.as_str())
    }

    /// Whether the client must answer an offer of the node's.
    pub fn requires_answer(&self) -> bool {
        self.description
            .as_ref()
            .is_some_and(|d| d.kind == SdpType::Offer)
    }
}

/// Why the node closed a published track of its own accord.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrackEndReason {
    /// No RTP arrived for [`NodeConfig::track_idle_timeout`](super::NodeConfig::track_idle_timeout).
    Idle,
}

/// Something that happened on the node.
#[derive(Debug)]
#[non_exhaustive]
pub enum NodeEvent {
    /// ICE and DTLS completed for a client session: media flows.
    Connected {
        /// The session.
        session: SessionId,
    },
    /// A client's media path changed (its first check, or a network change).
    PathChanged {
        /// The session.
        session: SessionId,
        /// The client's address now.
        remote: SocketAddr,
    },
    /// A session ended; its tracks ended with it (every subscriber gets
    /// [`NodeEvent::SubscriptionEnded`]).
    Closed {
        /// The session.
        session: SessionId,
        /// Why.
        reason: CloseReason,
    },
    /// A session published a track.
    TrackPublished {
        /// The publisher.
        session: SessionId,
        /// The track's name.
        name: String,
    },
    /// A track the session published was closed by the node itself (not
    /// by a command): its subscribers get [`NodeEvent::SubscriptionEnded`],
    /// its m-section stays negotiated but idle, as after a forced
    /// [`Node::close_tracks`](super::Node::close_tracks).
    TrackEnded {
        /// The publisher.
        session: SessionId,
        /// The track's name.
        name: String,
        /// Why.
        reason: TrackEndReason,
    },
    /// A pulled track stopped reaching a session; its m-section is idle
    /// (pull again into it, or close it).
    SubscriptionEnded {
        /// The subscriber.
        session: SessionId,
        /// Its m-section (`None` on a relay link).
        mid: Option<String>,
        /// The publisher.
        publisher: SessionId,
        /// The track's name.
        name: String,
        /// Why.
        reason: EndReason,
    },
    /// A session has changes only an offer of the node's can carry (a
    /// waiting pull whose track appeared): call
    /// [`Node::create_offer`](super::Node::create_offer).
    NegotiationNeeded {
        /// The session.
        session: SessionId,
    },
}
