//! What the node keeps per session, beside the endpoint's transport and
//! the router's media state: which m-section carries which track.

use std::time::Instant;

use sfu_core::{CodecConfig, ResumePoint, SessionId, SubscriptionId};

use crate::IceCredentials;
use crate::sdp::{MediaKind, Negotiation, PayloadFormat};

use super::direct::DirectLink;
use super::relay::RelayLink;

/// A track a session publishes.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub name: String,
    /// The client's m-section (`None` on a relay link).
    pub mid: Option<String>,
    pub kind: MediaKind,
    /// The format as the publisher negotiated it (its payload type).
    pub format: PayloadFormat,
    pub rtx_pt: Option<u8>,
    pub layers: usize,
    /// When it was published: a track that never receives RTP is idle
    /// from here.
    pub published_at: Instant,
}

/// What a sender delivers, once pulled.
#[derive(Debug, Clone)]
pub(crate) struct Pull {
    pub publisher: SessionId,
    pub name: String,
    pub subscription: SubscriptionId,
}

/// One way the node sends media to a session: an m-section of a client
/// (ours in its answer or offer) or a track slot of a relay link.
#[derive(Debug, Clone)]
pub(crate) struct Sender {
    /// The m-section; on a relay link, the name the track has there.
    pub mid: Option<String>,
    /// The name on the other end of a relay link.
    pub relay_name: Option<String>,
    pub kind: MediaKind,
    pub ssrc: u32,
    pub rtx_ssrc: Option<u32>,
    /// The session's payload types for what it receives here.
    pub codecs: Vec<CodecConfig>,
    /// The format negotiated on this section (what a pulled track must use).
    pub format: PayloadFormat,
    pub pull: Option<Pull>,
    /// The track this section carries or last carried, `(publisher,
    /// name)`: it stays listed (inactive) after its pull ends.
    pub pulled: Option<(SessionId, String)>,
    /// Where the last pull on this section stopped, so the next continues
    /// its sequence numbers and timestamps.
    pub resume: Option<ResumePoint>,
    /// The preferred simulcast layer.
    pub layer: Option<String>,
}

/// A section in the node's offer in flight, pulled once the client answers.
#[derive(Debug, Clone)]
pub(crate) struct OfferedSender {
    pub sender: Sender,
    pub publisher: SessionId,
    pub name: String,
}

/// A pull whose track is not published yet and which needs a new section.
#[derive(Debug, Clone)]
pub(crate) struct WaitingPull {
    pub publisher: SessionId,
    pub name: String,
    pub layer: Option<String>,
}

/// A WebRTC client's side of a session.
#[derive(Debug)]
pub(crate) struct Client {
    pub credentials: IceCredentials,
    pub negotiation: Negotiation,
    /// Receiving sections of the node's offer in flight toward a third
    /// party, `(mid, track name)`: published once the answer sends on them.
    pub receivers: Vec<(String, String)>,
    /// The endpoint holds a transport for it (after the first exchange).
    pub transport: bool,
    pub connected: bool,
    /// Sections of the offer in flight that carry new pulls.
    pub offered: Vec<OfferedSender>,
    /// Sections were stopped that only an offer of ours can tell the client.
    pub stops_pending: bool,
}

/// How a session reaches its peer.
#[derive(Debug)]
pub(crate) enum Link {
    Client(Box<Client>),
    Relay(Box<RelayLink>),
    /// A participant in the application's process ([`super::direct`]).
    Direct(Box<DirectLink>),
}

#[derive(Debug)]
pub(crate) struct Session {
    pub link: Link,
    pub published: Vec<Published>,
    pub senders: Vec<Sender>,
    pub waiting: Vec<WaitingPull>,
}

impl Session {
    pub fn new(link: Link) -> Self {
        Self {
            link,
            published: Vec::new(),
            senders: Vec::new(),
            waiting: Vec::new(),
        }
    }

    pub fn client(&self) -> Option<&Client> {
        match &self.link {
            Link::Client(c) => Some(c),
            Link::Relay(_) | Link::Direct(_) => None,
        }
    }

    pub fn client_mut(&mut self) -> Option<&mut Client> {
        match &mut self.link {
            Link::Client(c) => Some(c),
            Link::Relay(_) | Link::Direct(_) => None,
        }
    }

    pub fn sender_by_mid(&mut self, mid: &str) -> Option<&mut Sender> {
        self.senders
            .iter_mut()
            .find(|s| s.mid.as_deref() == Some(mid))
    }

    /// Every subscription that delivers to this session.
    pub fn subscriptions(&self) -> impl Iterator<Item = SubscriptionId> + '_ {
        self.senders
            .iter()
            .filter_map(|s| s.pull.as_ref().map(|p| p.subscription))
    }
}
