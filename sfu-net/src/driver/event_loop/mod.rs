//! The driver thread: sockets, endpoint and router in one loop.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Instant;

use crate::sdp::{
    self, Capabilities, LocalTransport, MediaKind, Msid, OutgoingTrack, PublishOffer,
    Renegotiation, SectionSender, ViewerOffer,
};
use crate::{Endpoint, Event as NetEvent, IceCredentials, SessionConfig as NetSessionConfig};
use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use sfu_core::{
    Fallback, Hint, Output, PullConfig, ResumePoint, Router, RouterEvent, Shield, Simulcast,
    SubscriptionId,
};

use super::relay::{RelayKeys, RelayLink, RelayOffer};
use super::signaling::{codec_config, extension_map, track_config};
use super::udp::{self, RecvBatch};
use super::{Command, DriverConfig, DriverError, DriverEvent, DriverStats, Publication, Viewing};

// Media socket `i` has token `i` (at most two: one per address family).
mod cascade;
mod sessions;

use cascade::relay_send;

pub(crate) const WAKER: Token = Token(2);
/// Relay link `i` has token `FIRST_RELAY + i`.
const FIRST_RELAY: Token = Token(3);

type RouterId = sfu_core::SessionId;
type NetId = crate::SessionId;

/// A published track as viewers need it: router name, kind, SDP codec.
struct SourceTrack {
    name: String,
    kind: MediaKind,
    codec: sdp::Codec,
    layers: usize,
    rtx_pt: Option<u8>,
}

/// One m-section of a viewer, and what flows into it.
struct ViewSection {
    /// The viewer's m-section (`None` on a relay link, which has no SDP).
    mid: Option<String>,
    kind: MediaKind,
    ssrc: u32,
    rtx_ssrc: Option<u32>,
    codecs: Vec<sfu_core::CodecConfig>,
    subscription: Option<SubscriptionId>,
    resume: Option<ResumePoint>,
}

/// A track the SFU offered a client in a renegotiation, pulled once the
/// client answers.
struct PendingPull {
    mid: String,
    kind: MediaKind,
    ssrc: u32,
    rtx_ssrc: Option<u32>,
    source: RouterId,
    track: String,
    layers: usize,
}

#[derive(Default)]
struct Session {
    /// The endpoint session of a WebRTC client.
    net: Option<NetId>,
    /// The relay link of a cascade session.
    link: Option<usize>,
    /// Tracks it publishes (a WHIP publisher, the edge end of a relay).
    sources: Vec<SourceTrack>,
    /// Sections it receives on (a WHEP viewer, the ingest end of a relay,
    /// tracks pulled by renegotiation).
    sections: Vec<ViewSection>,
    /// Preferred simulcast RID for what it receives.
    layer: Option<String>,
    /// Offer/answer state, for SFU-initiated offers.
    negotiation: Option<Renegotiation>,
    /// Tracks in the offer in flight.
    pending: Vec<PendingPull>,
}

/// One of the driver's media sockets (one per address family).
pub(crate) struct MediaSocket {
    pub socket: UdpSocket,
    pub local: SocketAddr,
    /// The address announced in SDP candidates.
    pub announced: SocketAddr,
}

pub(crate) struct Core {
    sockets: Vec<MediaSocket>,
    endpoint: Endpoint,
    router: Router<Shield>,
    caps: Capabilities,
    sessions: HashMap<RouterId, Session>,
    by_net: HashMap<NetId, RouterId>,
    relays: Vec<Option<(RelayLink, RouterId)>>,
    registry: Option<mio::Registry>,
    socket_buffer: usize,
    events: Sender<DriverEvent>,
    next_ssrc: u32,
    send_buf: Vec<u8>,
    outgoing: Vec<(SocketAddr, Bytes)>,
    send_dropped: u64,
    running: bool,
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS generator failing is not recoverable; a zero-filled buffer would
    // make credentials guessable, so fall back to the clock's entropy mixed
    // with the address of a stack variable only in that case.
    if getrandom::fill(&mut b).is_err() {
        let seed = Instant::now().elapsed().as_nanos() ^ (&b as *const _ as u128);
        for (i, x) in b.iter_mut().enumerate() {
            *x = (seed >> ((i % 16) * 8)) as u8 ^ i as u8;
        }
    }
    b
}

impl Core {
    pub fn new(
        config: DriverConfig,
        sockets: Vec<MediaSocket>,
        events: Sender<DriverEvent>,
    ) -> Result<Self, DriverError> {
        let certificate = match config.certificate {
            Some(c) => c,
            None => crate::Certificate::generate()?,
        };
        let endpoint = Endpoint::new(config.endpoint, certificate)?;
        let shield = Shield::new(config.shield).map_err(|_| DriverError::Stopped)?;
        Ok(Self {
            sockets,
            endpoint,
            router: Router::with_loss_recovery(config.router, shield),
            socket_buffer: config.socket_buffer,
            caps: config.capabilities,
            sessions: HashMap::new(),
            by_net: HashMap::new(),
            relays: Vec::new(),
            registry: None,
            events,
            next_ssrc: u32::from_be_bytes(random::<4>()) | 1,
            send_buf: vec![0; udp::MAX_DATAGRAM],
            outgoing: Vec::with_capacity(udp::BATCH * 8),
            send_dropped: 0,
            running: true,
        })
    }

    pub fn run(&mut self, mut poll: Poll, commands: Receiver<Command>) {
        for (i, m) in self.sockets.iter().enumerate() {
            let fd = m.socket.as_raw_fd();
            if poll
                .registry()
                .register(&mut SourceFd(&fd), Token(i), Interest::READABLE)
                .is_err()
            {
                return;
            }
        }
        self.registry = poll.registry().try_clone().ok();
        let mut events = Events::with_capacity(64);
        let mut batch = RecvBatch::default();
        while self.running {
            let now = Instant::now();
            let deadline = [self.endpoint.poll_timeout(), self.router.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let timeout = deadline.map(|d| d.saturating_duration_since(now));
            if let Err(e) = poll.poll(&mut events, timeout)
                && e.kind() != std::io::ErrorKind::Interrupted
            {
                break;
            }
            // Read until each socket is drained: readiness is edge-triggered.
            for i in 0..self.sockets.len() {
                while let Some(m) = self.sockets.get(i) {
                    let local = m.local;
                    match udp::recv_batch(&m.socket, &mut batch) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let now = Instant::now();
                            for (src, data) in batch.iter() {
                                self.endpoint.handle_datagram(now, src, local, data);
                            }
                            self.pump(now);
                        }
                    }
                }
            }
            for event in events.iter() {
                if let Some(i) = event.token().0.checked_sub(FIRST_RELAY.0) {
                    self.relay_readable(i, &mut batch);
                }
            }
            while let Ok(cmd) = commands.try_recv() {
                self.command(cmd);
            }
            let now = Instant::now();
            if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                self.endpoint.handle_timeout(now);
            }
            if self.router.poll_timeout().is_some_and(|t| t <= now) {
                self.router.handle_timeout(now);
            }
            self.pump(now);
        }
        let ids: Vec<NetId> = self.by_net.keys().copied().collect();
        for id in ids {
            let _ = self.endpoint.close_session(id);
        }
        self.flush();
    }

    /// Moves everything between endpoint, router and socket until quiet.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(ev) = self.endpoint.poll_event() {
                progressed = true;
                self.net_event(now, ev);
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
        self.flush();
    }

    fn flush(&mut self) {
        while let Some(t) = self.endpoint.poll_transmit() {
            self.outgoing.push((t.destination, t.contents));
        }
        if self.outgoing.is_empty() {
            return;
        }
        // Each datagram leaves from the socket of its destination's family.
        for m in &self.sockets {
            let slices: Vec<(SocketAddr, &[u8])> = self
                .outgoing
                .iter()
                .filter(|(a, _)| a.is_ipv4() == m.local.is_ipv4())
                .map(|(a, b)| (*a, b.as_ref()))
                .collect();
            if slices.is_empty() {
                continue;
            }
            let sent = udp::send_batch(&m.socket, &slices).unwrap_or(0);
            self.send_dropped += (slices.len() - sent.min(slices.len())) as u64;
        }
        self.outgoing.clear();
    }

    fn net_event(&mut self, now: Instant, ev: NetEvent) {
        match ev {
            NetEvent::Connected { session, .. } => {
                if let Some(&id) = self.by_net.get(&session) {
                    let _ = self.events.send(DriverEvent::Connected { session: id });
                    // Whatever was forwarded before DTLS finished is lost:
                    // start viewers on a fresh keyframe.
                    if let Some(session) = self.sessions.get(&id) {
                        for sub in session.sections.iter().filter_map(|s| s.subscription) {
                            let _ = self.router.request_keyframe(now, sub);
                        }
                    }
                }
            }
            NetEvent::Rtp { session, packet } => {
                if let Some(&id) = self.by_net.get(&session) {
                    let _ = self.router.handle_rtp(now, id, packet);
                }
            }
            NetEvent::Rtcp { session, packet } => {
                if let Some(&id) = self.by_net.get(&session) {
                    let _ = self.router.handle_rtcp(now, id, packet);
                }
            }
            NetEvent::Closed { session, reason } => {
                if let Some(id) = self.by_net.remove(&session) {
                    self.sessions.remove(&id);
                    let _ = self.router.close_session(now, id);
                    let _ = self.events.send(DriverEvent::Closed {
                        session: id,
                        reason: format!("{reason:?}"),
                    });
                }
            }
            _ => {}
        }
    }

    fn router_output(&mut self, out: Output) {
        match out {
            Output::Rtp {
                session, packet, ..
            } => {
                let Some(s) = self.sessions.get(&session) else {
                    return;
                };
                let (net, link) = (s.net, s.link);
                if let Ok(n) = packet.write_to(&mut self.send_buf)
                    && let Some(bytes) = self.send_buf.get(..n)
                {
                    match (net, link) {
                        (Some(net), _) => {
                            let _ = self.endpoint.send_rtp(net, bytes);
                        }
                        (None, Some(link)) => relay_send(&mut self.relays, link, bytes, false),
                        (None, None) => {}
                    }
                }
            }
            Output::Rtcp { session, packet } => match self.sessions.get(&session) {
                Some(Session { net: Some(net), .. }) => {
                    let _ = self.endpoint.send_rtcp(*net, &packet);
                }
                Some(Session {
                    link: Some(link), ..
                }) => relay_send(&mut self.relays, *link, &packet, true),
                _ => {}
            },
        }
    }

    fn router_event(&mut self, ev: RouterEvent) {
        if let RouterEvent::SubscriptionEnded {
            subscriber,
            subscription,
            reason,
            resume,
        } = ev
        {
            if let Some(session) = self.sessions.get_mut(&subscriber)
                && let Some(section) = session
                    .sections
                    .iter_mut()
                    .find(|s| s.subscription == Some(subscription))
            {
                section.subscription = None;
                section.resume = resume.or(section.resume);
            }
            let _ = self.events.send(DriverEvent::SubscriptionEnded {
                subscriber,
                subscription,
                reason,
            });
        }
    }

    fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Publish(offer, reply) => {
                let _ = reply.send(self.publish(now, &offer));
            }
            Command::View {
                offer,
                source,
                layer,
                reply,
            } => {
                let _ = reply.send(self.view(now, &offer, source, layer));
            }
            Command::Attach {
                viewer,
                source,
                reply,
            } => {
                let _ = reply.send(self.attach(now, viewer, source));
            }
            Command::PreferLayer { viewer, rid, reply } => {
                let _ = reply.send(self.prefer_layer(viewer, rid));
            }
            Command::RelayOut {
                source,
                bind,
                keys,
                reply,
            } => {
                let _ = reply.send(self.relay_out(now, source, bind, keys));
            }
            Command::RelayIn {
                offer,
                bind,
                keys,
                reply,
            } => {
                let _ = reply.send(self.relay_in(now, offer, bind, keys));
            }
            Command::RelayConnect {
                session,
                remote,
                reply,
            } => {
                let _ = reply.send(self.relay_connect(now, session, remote));
            }
            Command::Pull {
                session,
                source,
                reply,
            } => {
                let _ = reply.send(self.pull(session, source));
            }
            Command::Answer {
                session,
                answer,
                reply,
            } => {
                let _ = reply.send(self.answer(now, session, &answer));
            }
            Command::Close(session, reply) => {
                let _ = reply.send(self.close(now, session));
            }
            Command::Stats(reply) => {
                let _ = reply.send(Ok(DriverStats {
                    endpoint: self.endpoint.stats(),
                    router: self.router.stats(),
                    sessions: self.sessions.len(),
                    send_dropped: self.send_dropped,
                }));
            }
            Command::Shutdown => self.running = false,
        }
        self.pump(now);
    }

    fn local_transport(&self, credentials: &IceCredentials) -> LocalTransport {
        LocalTransport {
            ice: sdp::IceParameters {
                ufrag: credentials.ufrag().to_owned(),
                pwd: credentials.pwd().to_owned(),
            },
            fingerprint: *self.endpoint.certificate().fingerprint(),
            candidate: self
                .sockets
                .first()
                .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |m| m.announced),
            candidate_v6: self.sockets.get(1).map(|m| m.announced),
            session_id: u64::from_be_bytes(random::<8>()) >> 1,
        }
    }

    fn fresh_ssrc(&mut self) -> u32 {
        self.next_ssrc = self.next_ssrc.wrapping_add(2);
        self.next_ssrc
    }

    /// A WebRTC client's endpoint session and its router session, created
    /// together (neither is left behind if the other fails).
    fn add_client(
        &mut self,
        now: Instant,
        credentials: IceCredentials,
        remote: &sdp::RemoteTransport,
        remote_ssrcs: Vec<u32>,
        learn: bool,
        answer: &sdp::Description,
    ) -> Result<(NetId, RouterId), DriverError> {
        let net = self.endpoint.add_session(
            now,
            NetSessionConfig {
                credentials,
                remote_ufrag: Some(remote.ice.ufrag.clone()),
                remote_fingerprint: remote.fingerprint,
                remote_ssrcs,
                learn_remote_ssrcs: learn,
            },
        )?;
        let config = sfu_core::SessionConfig {
            extensions: extension_map(answer),
            rtcp_ssrc: None,
        };
        match self.router.create_session(now, config) {
            Ok(session) => Ok((net, session)),
            Err(e) => {
                let _ = self.endpoint.close_session(net);
                Err(e.into())
            }
        }
    }
}
