//! What a node is built from: its certificate, the seed of its randomness,
//! the addresses it announces, and the settings of the layers it owns.

use std::net::SocketAddr;
use std::time::Duration;

use sfu_core::{RouterConfig, ShieldConfig};

use crate::sdp::Capabilities;
use crate::{Certificate, EndpointConfig};

/// Everything a [`Node`](super::Node) needs. Fields are public and the
/// struct is `#[non_exhaustive]`: build it with [`NodeConfig::new`], then
/// set what differs from the defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeConfig {
    /// The DTLS certificate presented to every client.
    pub certificate: Certificate,
    /// Seeds every random choice the node makes (ICE credentials, SSRCs,
    /// SDP session ids): give it 32 bytes from the OS generator in
    /// production, a fixed value in tests for a reproducible run.
    pub seed: [u8; 32],
    /// The addresses announced as ICE host candidates, most preferred
    /// first: the addresses clients can reach the media socket(s) on.
    pub candidates: Vec<SocketAddr>,
    /// Codecs, feedback and header extensions the node negotiates.
    pub capabilities: Capabilities,
    /// Limits and timers of the transport layer.
    pub endpoint: EndpointConfig,
    /// Limits and timers of the router.
    pub router: RouterConfig,
    /// The NACK shield.
    pub shield: ShieldConfig,
    /// A session that never completes an offer/answer exchange (so no
    /// transport exists to expire by consent) is closed after this long.
    pub negotiation_timeout: Duration,
    /// At most this many node events wait in [`poll_event`](super::Node::poll_event);
    /// beyond it events are dropped and counted.
    pub max_queued_events: usize,
    /// At most this many relay links.
    pub max_relays: usize,
    /// A track a client publishes that receives no RTP for this long
    /// (counted from its publish when none ever arrived) is closed, as the
    /// Calls API garbage-collects tracks without media: its subscribers
    /// get [`NodeEvent::SubscriptionEnded`](super::NodeEvent::SubscriptionEnded),
    /// the publisher [`NodeEvent::TrackEnded`](super::NodeEvent::TrackEnded).
    /// Tracks of relay links are exempt (the link's owner ends them).
    /// Must be more than zero.
    pub track_idle_timeout: Duration,
}

impl NodeConfig {
    /// Defaults for everything but the certificate and the seed.
    pub fn new(certificate: Certificate, seed: [u8; 32]) -> Self {
        Self {
            certificate,
            seed,
            candidates: Vec::new(),
            capabilities: Capabilities::default(),
            endpoint: EndpointConfig::default(),
            router: RouterConfig::default(),
            shield: ShieldConfig::default(),
            negotiation_timeout: Duration::from_secs(30),
            max_queued_events: 65_536,
            max_relays: 256,
            track_idle_timeout: Duration::from_secs(30),
        }
    }

    /// Sets the announced host candidates.
    pub fn with_candidates(mut self, candidates: Vec<SocketAddr>) -> Self {
        self.candidates = candidates;
        self
    }

    /// Sets [`NodeConfig::track_idle_timeout`].
    pub fn with_track_idle_timeout(mut self, timeout: Duration) -> Self {
        self.track_idle_timeout = timeout;
        self
    }
}
