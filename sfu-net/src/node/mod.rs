//! The node: one SFU, sans-IO. It owns the [`Endpoint`] (ICE, DTLS, SRTP),
//! the `sfu-core` router and its NACK shield, the session table that says
//! which m-section carries which track, the SDP offer/answer glue and the
//! relay links to other nodes, and sessions it offers toward third
//! parties ([`Node::open_third_party`]). Sockets, threads and clocks stay with
//! whoever drives it (the mio [`driver`](crate::driver), or your loop).
//!
//! # Run-loop contract
//!
//! > After every `handle_*` call and every command, drain
//! > [`Node::poll_transmit`] and [`Node::poll_event`] until they return
//! > `None`, then sleep until the next datagram or [`Node::poll_timeout`].
//!
//! Inputs: [`Node::handle_datagram`] (every datagram of every media socket,
//! with the address it came from and the local address it arrived on) and
//! [`Node::handle_timeout`]. Commands ([`Node::create_session`],
//! [`Node::push_tracks`], [`Node::pull_tracks`], [`Node::apply_answer`],
//! [`Node::close_tracks`], [`Node::open_third_party`] and
//! [`Node::accept_answer`], …) take effect at once and return their result;
//! getters ([`Node::session_tracks`], [`Node::stats`], …) change nothing.

mod commands;
mod config;
mod direct;
mod event;
mod relay;
mod sections;
mod session;
mod third_party;
mod tracks;
mod translate;
mod whip;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use rustc_hash::FxHashMap;
use sfu_core::{Output, Router, RouterEvent, SessionId, Shield};

use crate::{Endpoint, sdp};
use crate::{EndpointEvent, EndpointStats, Error, Transmit};

pub use config::NodeConfig;
pub use direct::{DirectPacket, DirectPull, DirectTrack};
pub use event::{
    Negotiated, NodeEvent, PullTrack, PushTrack, SdpType, SessionDescription, TrackEndReason,
    TrackOutcome, TrackState,
};
pub use relay::{RelayKeys, RelayLayer, RelayTrack};
pub use third_party::{ReceiveTrack, ThirdPartyOffer};
pub use tracks::{TrackInfo, TrackLocation, TrackStatus};
pub use whip::{Publication, Viewing};

use session::{Link, Session};

/// Counters of the node and the layers it owns, as a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStats {
    /// The transport layer's counters.
    pub endpoint: EndpointStats,
    /// The router's counters.
    pub router: sfu_core::RouterStats,
    /// The NACK shield's counters, summed over its streams: repairs,
    /// retransmissions refused to a subscriber (repeats, budget) and
    /// streams refused (node or session capacity).
    pub shield: sfu_core::ShieldStats,
    /// The full ICE agents' counters (sessions offered toward third
    /// parties): checks sent and retransmitted, responses accepted or
    /// dropped by reason, role conflicts, sessions failed.
    pub ice: crate::ice::IceAgentStats,
    /// Live sessions (clients and relay links).
    pub sessions: usize,
    /// Published tracks in the router (clients' and relay links').
    pub tracks: usize,
    /// Subscriptions in the router, active or waiting for their track
    /// (clients' pulls and tracks relayed on).
    pub subscriptions: usize,
    /// Datagrams handed to [`Node::handle_datagram`] (relay links' too).
    pub datagrams_received: u64,
    /// UDP payload bytes of those datagrams.
    pub bytes_received: u64,
    /// Datagrams returned by [`Node::poll_transmit`] (relay links' too);
    /// whoever sends them counts what the kernel then refuses.
    pub datagrams_sent: u64,
    /// UDP payload bytes of those datagrams.
    pub bytes_sent: u64,
    /// Relay datagrams dropped (not from the link's peer, not RTP/RTCP,
    /// failed SRTP authentication, or could not be sealed).
    pub relay_dropped: u64,
    /// Layer-demand APP packets from relay links dropped as malformed
    /// (shape, lengths, entry count), and entries of them dropped for
    /// naming no track relayed over the link.
    pub relay_demand_dropped: u64,
    /// Packets for direct sessions dropped because the application did
    /// not drain [`Node::poll_direct`].
    pub direct_dropped: u64,
    /// Node events dropped because the application did not drain them.
    pub events_dropped: u64,
    /// Published tracks closed because no RTP arrived for
    /// [`NodeConfig::track_idle_timeout`].
    pub tracks_idle_closed: u64,
}

/// One SFU, sans-IO. See the [module documentation](self) for the run loop.
pub struct Node {
    endpoint: Endpoint<SessionId>,
    router: Router<Shield>,
    caps: sdp::Capabilities,
    candidates: Vec<SocketAddr>,
    sessions: FxHashMap<SessionId, Session>,
    /// Relay links by their peer's address (one link per peer node).
    relays: FxHashMap<SocketAddr, SessionId>,
    /// Pulls waiting for a track to be published: `(publisher, name)` →
    /// the sessions that need an offer for it.
    waiting: FxHashMap<(SessionId, String), Vec<SessionId>>,
    relay_transmits: VecDeque<Transmit>,
    /// RTP of tracks direct sessions pull, for [`Node::poll_direct`].
    direct_out: VecDeque<DirectPacket>,
    /// Which layers of relayed tracks are wanted, each way.
    relay_demand: relay::Demand,
    events: VecDeque<NodeEvent>,
    rng: ChaCha20Rng,
    send_buf: Vec<u8>,
    negotiation_timeout: std::time::Duration,
    /// Client sessions in creation order with when they were made, for
    /// the negotiation deadline: the oldest is at the front, so finding the
    /// next deadline is a look at the front, not a walk over all sessions.
    /// Sessions that negotiated or closed are dropped from the front.
    unnegotiated: VecDeque<(Instant, SessionId)>,
    track_idle_timeout: std::time::Duration,
    /// When a client track can next have gone idle (`None`: none published).
    next_idle_check: Option<Instant>,
    max_queued_events: usize,
    max_relays: usize,
    relay_dropped: u64,
    direct_dropped: u64,
    events_dropped: u64,
    tracks_idle_closed: u64,
    /// Traffic through the node's two doors, counted there so relay links
    /// (which bypass the endpoint) are included.
    traffic: Traffic,
}

/// Datagrams and bytes in and out of the node.
#[derive(Debug, Default, Clone, Copy)]
struct Traffic {
    datagrams_received: u64,
    bytes_received: u64,
    datagrams_sent: u64,
    bytes_sent: u64,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("sessions", &self.sessions.len())
            .field("relays", &self.relays.len())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node with no sessions. Fails only on a configuration the layers
    /// refuse (e.g. a shield cache size out of range) or a zero
    /// [`NodeConfig::track_idle_timeout`].
    pub fn new(config: NodeConfig) -> Result<Self, Error> {
        if config.track_idle_timeout.is_zero() {
            return Err(Error::InvalidNodeConfig(
                "track_idle_timeout must be more than zero",
            ));
        }
        let shield = Shield::new(config.shield).map_err(Error::InvalidConfig)?;
        let endpoint = Endpoint::new(config.endpoint, config.certificate)?;
        Ok(Self {
            endpoint,
            router: Router::with_loss_recovery(config.router, shield),
            caps: config.capabilities,
            candidates: config.candidates,
            sessions: FxHashMap::default(),
            relays: FxHashMap::default(),
            waiting: FxHashMap::default(),
            relay_transmits: VecDeque::new(),
            relay_demand: relay::Demand::default(),
            events: VecDeque::new(),
            rng: ChaCha20Rng::from_seed(config.seed),
            send_buf: vec![0; 2048],
            negotiation_timeout: config.negotiation_timeout,
            unnegotiated: VecDeque::new(),
            track_idle_timeout: config.track_idle_timeout,
            next_idle_check: None,
            max_queued_events: config.max_queued_events,
            max_relays: config.max_relays,
            relay_dropped: 0,
            direct_out: VecDeque::new(),
            direct_dropped: 0,
            events_dropped: 0,
            tracks_idle_closed: 0,
            traffic: Traffic::default(),
        })
    }

    /// The announced host candidates.
    pub fn candidates(&self) -> &[SocketAddr] {
        &self.candidates
    }

    /// Replaces the announced host candidates (for sessions created from
    /// now on), e.g. once the driver knows the ports it bound.
    pub fn set_candidates(&mut self, candidates: Vec<SocketAddr>) {
        self.candidates = candidates;
    }

    /// The DTLS certificate's fingerprint, as every SDP of the node carries it.
    pub fn fingerprint(&self) -> &crate::Fingerprint {
        self.endpoint.certificate().fingerprint()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> NodeStats {
        NodeStats {
            endpoint: self.endpoint.stats(),
            router: self.router.stats(),
            shield: self.router.loss_recovery().stats(),
            ice: self.endpoint.ice_agent_stats(),
            sessions: self.sessions.len(),
            tracks: self.router.track_count(),
            subscriptions: self.router.subscription_count(),
            datagrams_received: self.traffic.datagrams_received,
            bytes_received: self.traffic.bytes_received,
            datagrams_sent: self.traffic.datagrams_sent,
            bytes_sent: self.traffic.bytes_sent,
            relay_dropped: self.relay_dropped,
            relay_demand_dropped: self.relay_demand.dropped(),
            direct_dropped: self.direct_dropped,
            events_dropped: self.events_dropped,
            tracks_idle_closed: self.tracks_idle_closed,
        }
    }

    /// The router, read-only (subscriptions, RTT, shield statistics).
    pub fn router(&self) -> &Router<Shield> {
        &self.router
    }

    /// The transport layer, read-only (selected paths, map sizes).
    pub fn endpoint(&self) -> &Endpoint<SessionId> {
        &self.endpoint
    }

    /// Whether `session` exists.
    pub fn has_session(&self, session: SessionId) -> bool {
        self.sessions.contains_key(&session)
    }

    /// The tracks `session` publishes: `(name, mid)` in publish order.
    pub fn published_tracks(&self, session: SessionId) -> Vec<(String, Option<String>)> {
        self.sessions
            .get(&session)
            .map(|s| {
                s.published
                    .iter()
                    .map(|p| (p.name.clone(), p.mid.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One datagram from `from`, received on the local address `to`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.traffic.datagrams_received += 1;
        self.traffic.bytes_received += data.len() as u64;
        if let Some(&link) = self.relays.get(&from) {
            self.relay_datagram(now, link, to, data);
        } else {
            self.endpoint.handle_datagram(now, from, to, data);
        }
        self.pump(now);
    }

    /// Runs the timers that are due: DTLS retransmissions, consent expiry,
    /// receiver reports, congestion feedback, NACK retries, closing
    /// sessions that never negotiated and tracks that receive no media,
    /// the layer demand of relayed tracks.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        if self.router.poll_timeout().is_some_and(|t| t <= now) {
            self.router.handle_timeout(now);
        }
        while let Some(&(created, id)) = self.unnegotiated.front() {
            if created + self.negotiation_timeout > now {
                break;
            }
            self.unnegotiated.pop_front();
            let waiting = self
                .sessions
                .get(&id)
                .is_some_and(|s| s.client().is_some_and(|c| !c.transport));
            if waiting {
                self.remove(now, id, crate::CloseReason::NeverNegotiated);
            }
        }
        if self.next_idle_check.is_some_and(|t| t <= now) {
            self.close_idle_tracks(now);
        }
        if self.relay_demand.deadline().is_some_and(|t| t <= now) {
            self.run_relay_demand(now);
        }
        self.pump(now);
    }

    /// Datagrams queued for [`Node::poll_transmit`]. One publisher packet
    /// queues one per subscriber, so a loop that hands the node a batch of
    /// datagrams drains when this grows large, before the bounded queue
    /// (`EndpointConfig::max_queued`) refuses more.
    pub fn queued_transmits(&self) -> usize {
        self.endpoint.queued_transmits() + self.relay_transmits.len()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self
            .endpoint
            .poll_transmit()
            .or_else(|| self.relay_transmits.pop_front())?;
        self.traffic.datagrams_sent += 1;
        self.traffic.bytes_sent += t.contents.len() as u64;
        Some(t)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }

    /// When [`Node::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.endpoint.poll_timeout(),
            self.router.poll_timeout(),
            self.negotiation_deadline(),
            self.next_idle_check,
            self.relay_demand.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The oldest client session's negotiation deadline; it may have
    /// negotiated since (an early wake-up that drops it from the queue).
    fn negotiation_deadline(&self) -> Option<Instant> {
        self.unnegotiated
            .front()
            .map(|(created, _)| *created + self.negotiation_timeout)
    }

    fn random_u32(&mut self) -> u32 {
        self.rng.next_u32()
    }

    fn random_bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.rng.fill_bytes(&mut b);
        b
    }

    /// A fresh SSRC from the node's generator; the high bit pattern keeps it
    /// clear of 0 and of the small SSRCs test peers pick.
    fn fresh_ssrc(&mut self) -> u32 {
        self.random_u32() | 0x1000_0000
    }

    /// The client side of `session`.
    fn client_mut(&mut self, session: SessionId) -> Result<&mut session::Client, Error> {
        self.sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession)?
            .client_mut()
            .ok_or(Error::NotAClient)
    }

    fn push_event(&mut self, event: NodeEvent) {
        if self.events.len() >= self.max_queued_events {
            self.events_dropped += 1;
        } else {
            self.events.push_back(event);
        }
    }

    /// Moves everything between endpoint and router until quiet.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(ev) = self.endpoint.poll_event() {
                progressed = true;
                self.endpoint_event(now, ev);
            }
            while let Some(out) = self.router.poll_output() {
                progressed = true;
                self.router_output(out);
            }
            while let Some(ev) = self.router.poll_event() {
                progressed = true;
                self.router_event(ev);
            }
            if !progressed {
                break;
            }
        }
        // Subscriptions changed: the relay links hear at once.
        if self.relay_demand.is_dirty() {
            self.run_relay_demand(now);
        }
    }

    fn endpoint_event(&mut self, now: Instant, ev: EndpointEvent<SessionId>) {
        match ev {
            EndpointEvent::Rtp { session, packet } => {
                let _ = self.router.handle_rtp(now, session, packet);
            }
            EndpointEvent::Rtcp { session, packet } => {
                let _ = self.router.handle_rtcp(now, session, packet);
            }
            EndpointEvent::Connected { session, .. } => {
                let Some(s) = self.sessions.get_mut(&session) else {
                    return;
                };
                if let Some(c) = s.client_mut() {
                    c.connected = true;
                }
                // Whatever was forwarded before DTLS finished is lost:
                // start delivery on a fresh keyframe.
                let subs: Vec<_> = s.subscriptions().collect();
                for sub in subs {
                    let _ = self.router.request_keyframe(now, sub);
                }
                self.push_event(NodeEvent::Connected { session });
            }
            EndpointEvent::PathSelected {
                session, remote, ..
            } => self.push_event(NodeEvent::PathChanged { session, remote }),
            EndpointEvent::Closed { session, reason } => {
                if self.sessions.contains_key(&session) {
                    self.forget(now, session);
                    self.push_event(NodeEvent::Closed { session, reason });
                }
            }
        }
    }

    fn router_output(&mut self, out: Output) {
        match out {
            Output::Rtp {
                session, packet, ..
            } => {
                let Ok(n) = packet.write_to(&mut self.send_buf) else {
                    return;
                };
                let Some(bytes) = self.send_buf.get(..n) else {
                    return;
                };
                match self.sessions.get_mut(&session).map(|s| &mut s.link) {
                    Some(Link::Client(_)) => {
                        let _ = self.endpoint.send_rtp(session, bytes);
                    }
                    Some(Link::Relay(link)) => {
                        relay::send(link, bytes, false, &mut self.relay_transmits)
                            .unwrap_or_else(|()| self.relay_dropped += 1);
                    }
                    Some(Link::Direct(_)) => {
                        let packet = DirectPacket {
                            session,
                            ssrc: packet.ssrc,
                            rtp: Bytes::copy_from_slice(bytes),
                        };
                        direct::deliver(&mut self.direct_out, packet)
                            .unwrap_or_else(|()| self.direct_dropped += 1);
                    }
                    None => {}
                }
            }
            Output::Rtcp { session, packet } => {
                match self.sessions.get_mut(&session).map(|s| &mut s.link) {
                    Some(Link::Client(_)) => {
                        let _ = self.endpoint.send_rtcp(session, &packet);
                    }
                    Some(Link::Relay(link)) => {
                        relay::send(link, &packet, true, &mut self.relay_transmits)
                            .unwrap_or_else(|()| self.relay_dropped += 1);
                    }
                    // See the direct module: its RTCP is not delivered.
                    Some(Link::Direct(_)) | None => {}
                }
            }
        }
    }

    fn router_event(&mut self, ev: RouterEvent) {
        self.relay_demand.observe(&ev);
        match ev {
            RouterEvent::SubscriptionEnded {
                subscriber,
                subscription,
                reason,
                resume,
            } => {
                let Some(s) = self.sessions.get_mut(&subscriber) else {
                    return;
                };
                let Some(sender) = s.senders.iter_mut().find(|x| {
                    x.pull
                        .as_ref()
                        .is_some_and(|p| p.subscription == subscription)
                }) else {
                    return;
                };
                let Some(pull) = sender.pull.take() else {
                    return;
                };
                sender.resume = resume.or(sender.resume);
                let mid = sender.mid.clone();
                self.push_event(NodeEvent::SubscriptionEnded {
                    session: subscriber,
                    mid,
                    publisher: pull.publisher,
                    name: pull.name,
                    reason,
                });
            }
            RouterEvent::TrackPublished { session, name } => {
                if let Some(waiters) = self.waiting.remove(&(session, name.clone())) {
                    for waiter in waiters {
                        if self.sessions.contains_key(&waiter) {
                            self.push_event(NodeEvent::NegotiationNeeded { session: waiter });
                        }
                    }
                }
                self.push_event(NodeEvent::TrackPublished { session, name });
            }
            _ => {}
        }
    }

    /// Drops the node's state of a session the endpoint already closed (or
    /// never had): its router session, relay address and waiting pulls.
    fn forget(&mut self, now: Instant, session: SessionId) {
        let Some(s) = self.sessions.remove(&session) else {
            return;
        };
        if let Link::Relay(link) = &s.link {
            self.relays.remove(&link.remote);
            self.router.loss_recovery_mut().set_trunk(session, false);
        }
        if let Link::Direct(_) = &s.link {
            self.direct_out.retain(|p| p.session != session);
        }
        for w in &s.waiting {
            if let Some(list) = self.waiting.get_mut(&(w.publisher, w.name.clone())) {
                list.retain(|x| *x != session);
            }
        }
        // Pulls waiting for this session's tracks will never be served.
        self.waiting
            .retain(|(publisher, _), waiters| *publisher != session && !waiters.is_empty());
        let _ = self.router.close_session(now, session);
    }

    /// Ends a session for `reason`: closes its transport (DTLS close_notify
    /// when connected), then forgets it.
    fn remove(&mut self, now: Instant, session: SessionId, reason: crate::CloseReason) {
        if !self.sessions.contains_key(&session) {
            return;
        }
        // The endpoint's own Closed event is swallowed: the session is gone
        // from the table by the time it is drained.
        let _ = self.endpoint.close_session(session);
        self.forget(now, session);
        self.push_event(NodeEvent::Closed { session, reason });
    }

    fn relay_datagram(&mut self, now: Instant, link: SessionId, to: SocketAddr, data: &[u8]) {
        let Some(Link::Relay(relay)) = self.sessions.get_mut(&link).map(|s| &mut s.link) else {
            self.relay_dropped += 1;
            return;
        };
        relay.local = Some(to);
        match relay.receive(data) {
            Some((true, packet)) => {
                if !self.relay_demand_received(link, &packet) {
                    let _ = self.router.handle_rtcp(now, link, packet);
                }
            }
            Some((false, packet)) => {
                let _ = self.router.handle_rtp(now, link, packet);
            }
            None => self.relay_dropped += 1,
        }
    }
}
