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
    Event as RouterEvent, Fallback, Hint, Output, PullConfig, ResumePoint, Router, Shield,
    Simulcast, SubscriptionId,
};

use super::relay::{RelayKeys, RelayLink, RelayOffer, RelayTrack};
use super::signaling::{codec_config, extension_map, track_config};
use super::udp::{self, RecvBatch};
use super::{Command, DriverConfig, DriverError, DriverEvent, DriverStats, Publication, Viewing};

// Media socket `i` has token `i` (at most two: one per address family).
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

    fn publish(&mut self, now: Instant, offer: &str) -> Result<Publication, DriverError> {
        let offer = PublishOffer::parse(offer)?;
        let credentials = IceCredentials::from_random(&random());
        let local = self.local_transport(&credentials);
        let answer = offer.answer(&local, &self.caps)?;
        let tracks = offer.tracks(&answer);
        let configs: Vec<_> = tracks
            .iter()
            .filter_map(|t| track_config(t).map(|c| (t, c)))
            .collect();
        let remote_ssrcs: Vec<u32> = tracks
            .iter()
            .flat_map(|t| t.ssrc.into_iter().chain(t.rtx_ssrc))
            .collect();
        let simulcast = tracks.iter().any(|t| !t.rids.is_empty());
        let (net, session) = self.add_client(
            now,
            credentials,
            offer.remote(),
            remote_ssrcs,
            simulcast,
            &answer,
        )?;
        let mut sources = Vec::new();
        for (t, config) in configs {
            let layers = config.layers.len();
            if let Err(e) = self.router.publish_track(now, session, config) {
                let _ = self.endpoint.close_session(net);
                let _ = self.router.close_session(now, session);
                return Err(e.into());
            }
            sources.push(SourceTrack {
                name: t.mid.clone(),
                kind: t.kind,
                codec: t.codec.clone(),
                layers,
                rtx_pt: t.rtx_pt,
            });
        }
        let published = tracks
            .iter()
            .map(|t| (t.mid.clone(), t.kind, t.rids.clone()))
            .collect();
        self.by_net.insert(net, session);
        self.sessions.insert(
            session,
            Session {
                net: Some(net),
                sources,
                negotiation: Some(Renegotiation::from_publish(
                    &offer,
                    &answer,
                    local,
                    self.caps.clone(),
                )),
                ..Session::default()
            },
        );
        Ok(Publication {
            session,
            answer: answer.to_sdp(),
            tracks: published,
        })
    }

    fn view(
        &mut self,
        now: Instant,
        offer: &str,
        source: Option<sfu_core::SessionId>,
        layer: Option<String>,
    ) -> Result<Viewing, DriverError> {
        let offer = ViewerOffer::parse(offer)?;
        let source_tracks: Vec<(MediaKind, sdp::Codec)> =
            match source.and_then(|s| self.sessions.get(&s)) {
                Some(s) => s
                    .sources
                    .iter()
                    .map(|t| (t.kind, t.codec.clone()))
                    .collect(),
                None => Vec::new(),
            };
        // One sender per receiving audio/video section: the source's codec
        // when it is live, else the codec we prefer among those offered.
        let mut senders = Vec::new();
        let mut unused: Vec<(MediaKind, sdp::Codec)> = source_tracks;
        let caps = self.caps.clone();
        let mut ssrcs = Vec::new();
        for section in &offer.description().sections {
            if section.is_rejected() || !section.direction.receives() {
                continue;
            }
            if !matches!(section.kind, MediaKind::Audio | MediaKind::Video) {
                continue;
            }
            let from_source = unused
                .iter()
                .position(|(kind, _)| *kind == section.kind)
                .map(|i| unused.remove(i).1);
            let Some(codec) = from_source.or_else(|| caps.pick(section).cloned()) else {
                continue;
            };
            let ssrc = self.fresh_ssrc();
            let rtx_ssrc = (section.kind == MediaKind::Video).then(|| self.fresh_ssrc());
            ssrcs.push((section.mid.clone(), section.kind, ssrc, rtx_ssrc));
            senders.push(SectionSender {
                mid: section.mid.clone(),
                track: OutgoingTrack {
                    kind: section.kind,
                    codec,
                    ssrc,
                    rtx_ssrc,
                    msid: Msid {
                        stream: "sfu".into(),
                        track: format!("sfu-{}", section.mid),
                    },
                    cname: "sfu".into(),
                },
            });
        }
        let credentials = IceCredentials::from_random(&random());
        let local = self.local_transport(&credentials);
        let answer = offer.answer(&local, &self.caps, &senders)?;
        let sections = ssrcs
            .into_iter()
            .filter_map(|(mid, kind, ssrc, rtx_ssrc)| {
                let s = answer.section(&mid)?;
                let codec = s.media_codecs().next()?;
                let rtx_pt = s.rtx_for(codec.pt).map(|c| c.pt);
                Some(ViewSection {
                    mid: Some(mid),
                    kind,
                    ssrc,
                    rtx_ssrc: rtx_ssrc.filter(|_| rtx_pt.is_some()),
                    codecs: vec![codec_config(codec, rtx_pt)],
                    subscription: None,
                    resume: None,
                })
            })
            .collect();
        // A receive-only client's RTCP comes from SSRCs it never announced.
        let (net, session) =
            self.add_client(now, credentials, offer.remote(), Vec::new(), true, &answer)?;
        self.by_net.insert(net, session);
        self.sessions.insert(
            session,
            Session {
                net: Some(net),
                sections,
                layer,
                negotiation: Some(Renegotiation::from_viewer(
                    &offer,
                    &answer,
                    local,
                    self.caps.clone(),
                )),
                ..Session::default()
            },
        );
        if let Some(source) = source {
            self.attach(now, session, source)?;
        }
        Ok(Viewing {
            session,
            answer: answer.to_sdp(),
        })
    }

    fn attach(
        &mut self,
        now: Instant,
        viewer: RouterId,
        source: RouterId,
    ) -> Result<(), DriverError> {
        let tracks = self.source_tracks(source)?;
        let session = self
            .sessions
            .get_mut(&viewer)
            .ok_or(DriverError::UnknownSession(viewer))?;
        let layer = &session.layer;
        let mut unused = tracks;
        for section in session
            .sections
            .iter_mut()
            .filter(|s| s.subscription.is_none())
        {
            let Some(i) = unused.iter().position(|t| t.1 == section.kind) else {
                continue;
            };
            let (name, _, layers) = unused.remove(i);
            let mut pull = PullConfig::new(section.ssrc, section.codecs.clone());
            if let Some(mid) = &section.mid {
                pull = pull.with_mid(mid.clone());
            }
            if let Some(rtx) = section.rtx_ssrc {
                pull = pull.with_rtx(rtx);
            }
            if layers > 1 {
                pull = pull.with_policy(Simulcast::new(layer.clone(), Fallback::Auto));
            }
            if let Some(point) = section.resume {
                pull = pull.resume(point);
            }
            section.subscription = Some(self.router.pull_track(now, viewer, source, &name, pull)?);
        }
        Ok(())
    }

    /// Offers `session` every track of `source` in new `sendonly`
    /// sections (an SFU-initiated offer); the pulls start once the client's
    /// answer arrives through [`Core::answer`].
    fn pull(&mut self, session: RouterId, source: RouterId) -> Result<String, DriverError> {
        let sources: Vec<SourceTrack> = match self.sessions.get(&source) {
            Some(s) if !s.sources.is_empty() => s
                .sources
                .iter()
                .map(|t| SourceTrack {
                    name: t.name.clone(),
                    kind: t.kind,
                    codec: t.codec.clone(),
                    layers: t.layers,
                    rtx_pt: t.rtx_pt,
                })
                .collect(),
            Some(_) => return Err(DriverError::WrongRole(source)),
            None => return Err(DriverError::UnknownSession(source)),
        };
        let ssrcs: Vec<(u32, Option<u32>)> = sources
            .iter()
            .map(|t| {
                let ssrc = self.fresh_ssrc();
                (
                    ssrc,
                    (t.kind == MediaKind::Video).then(|| self.fresh_ssrc()),
                )
            })
            .collect();
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(DriverError::UnknownSession(session))?;
        let negotiation = s
            .negotiation
            .as_mut()
            .ok_or(DriverError::WrongRole(session))?;
        let mut pending: Vec<PendingPull> = Vec::new();
        for (t, (ssrc, rtx_ssrc)) in sources.into_iter().zip(ssrcs) {
            let track = OutgoingTrack {
                kind: t.kind,
                codec: t.codec,
                ssrc,
                rtx_ssrc,
                msid: Msid {
                    stream: format!("sfu-{}", source.as_u64()),
                    track: format!("sfu-{}-{}", source.as_u64(), t.name),
                },
                cname: "sfu".into(),
            };
            let mid = match negotiation.add_track(&track) {
                Ok(mid) => mid,
                Err(e) => {
                    // Take back what this call added; nothing was offered yet.
                    for p in &pending {
                        let _ = negotiation.stop(&p.mid);
                    }
                    return Err(e.into());
                }
            };
            pending.push(PendingPull {
                mid,
                kind: t.kind,
                ssrc,
                rtx_ssrc,
                source,
                track: t.name,
                layers: t.layers,
            });
        }
        let offer = negotiation.create_offer()?;
        s.pending.extend(pending);
        Ok(offer.to_sdp())
    }

    /// The client's answer to our offer: pulls what it accepted.
    fn answer(&mut self, now: Instant, session: RouterId, text: &str) -> Result<(), DriverError> {
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(DriverError::UnknownSession(session))?;
        let negotiation = s
            .negotiation
            .as_mut()
            .ok_or(DriverError::WrongRole(session))?;
        let answer = negotiation.apply_answer(text)?;
        let layer = s.layer.clone();
        let mut pulls = Vec::new();
        for p in std::mem::take(&mut s.pending) {
            let Some(section) = answer.section(&p.mid).filter(|x| !x.is_rejected()) else {
                continue;
            };
            let Some(codec) = section.media_codecs().next() else {
                continue;
            };
            let rtx_pt = section.rtx_for(codec.pt).map(|c| c.pt);
            let codecs = vec![codec_config(codec, rtx_pt)];
            let mut pull = PullConfig::new(p.ssrc, codecs.clone()).with_mid(p.mid.clone());
            let rtx_ssrc = p.rtx_ssrc.filter(|_| rtx_pt.is_some());
            if let Some(rtx) = rtx_ssrc {
                pull = pull.with_rtx(rtx);
            }
            if p.layers > 1 {
                pull = pull.with_policy(Simulcast::new(layer.clone(), Fallback::Auto));
            }
            pulls.push((p.source, p.track, pull));
            s.sections.push(ViewSection {
                mid: Some(p.mid),
                kind: p.kind,
                ssrc: p.ssrc,
                rtx_ssrc,
                codecs,
                subscription: None,
                resume: None,
            });
        }
        for (source, track, pull) in pulls {
            let ssrc = pull.ssrc;
            let id = self.router.pull_track(now, session, source, &track, pull)?;
            if let Some(section) = self
                .sessions
                .get_mut(&session)
                .and_then(|s| s.sections.iter_mut().find(|x| x.ssrc == ssrc))
            {
                section.subscription = Some(id);
            }
            let _ = self.router.request_keyframe(now, id);
        }
        Ok(())
    }

    /// The tracks `source` publishes: `(name, kind, layers)`.
    fn source_tracks(
        &self,
        source: RouterId,
    ) -> Result<Vec<(String, MediaKind, usize)>, DriverError> {
        let s = self
            .sessions
            .get(&source)
            .ok_or(DriverError::UnknownSession(source))?;
        if s.sources.is_empty() {
            return Err(DriverError::WrongRole(source));
        }
        Ok(s.sources
            .iter()
            .map(|t| (t.name.clone(), t.kind, t.layers))
            .collect())
    }

    fn prefer_layer(&mut self, viewer: RouterId, rid: Option<String>) -> Result<(), DriverError> {
        let session = self
            .sessions
            .get_mut(&viewer)
            .ok_or(DriverError::UnknownSession(viewer))?;
        session.layer.clone_from(&rid);
        let hint = rid.map_or(Hint::PreferHighest, Hint::PreferRid);
        for sub in session.sections.iter().filter_map(|s| s.subscription) {
            self.router.hint(sub, hint.clone())?;
        }
        Ok(())
    }

    fn close(&mut self, now: Instant, session: RouterId) -> Result<(), DriverError> {
        let s = self
            .sessions
            .remove(&session)
            .ok_or(DriverError::UnknownSession(session))?;
        if let Some(net) = s.net {
            self.by_net.remove(&net);
            let _ = self.endpoint.close_session(net);
        }
        if let Some(link) = s.link
            && let Some((l, _)) = self.relays.get_mut(link).and_then(Option::take)
            && let Some(registry) = &self.registry
        {
            let fd = l.socket.as_raw_fd();
            let _ = registry.deregister(&mut SourceFd(&fd));
        }
        let _ = self.router.close_session(now, session);
        let _ = self.events.send(DriverEvent::Closed {
            session,
            reason: "closed by the application".into(),
        });
        Ok(())
    }

    fn relay_readable(&mut self, index: usize, batch: &mut RecvBatch) {
        loop {
            let Some(Some((link, session))) = self.relays.get_mut(index) else {
                return;
            };
            let session = *session;
            match udp::recv_batch(&link.socket, batch) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let now = Instant::now();
            let packets: Vec<(bool, Bytes)> = batch
                .iter()
                .filter_map(|(from, data)| link.receive(from, data))
                .collect();
            for (rtcp, packet) in packets {
                let _ = if rtcp {
                    self.router.handle_rtcp(now, session, packet)
                } else {
                    self.router.handle_rtp(now, session, packet)
                };
            }
            self.pump(now);
        }
    }

    fn register_link(&mut self, link: RelayLink, session: RouterId) -> Result<usize, DriverError> {
        let index = self.relays.len();
        let registry = self.registry.as_ref().ok_or(DriverError::Stopped)?;
        let fd = link.socket.as_raw_fd();
        registry.register(
            &mut SourceFd(&fd),
            Token(FIRST_RELAY.0 + index),
            Interest::READABLE,
        )?;
        self.relays.push(Some((link, session)));
        Ok(index)
    }

    /// The sending side of a cascade link: a session that pulls every
    /// track of `source` and sends it over its own socket.
    fn relay_out(
        &mut self,
        now: Instant,
        source: RouterId,
        bind: SocketAddr,
        keys: Option<RelayKeys>,
    ) -> Result<RelayOffer, DriverError> {
        let tracks: Vec<RelayTrack> = match self.sessions.get(&source) {
            Some(s) if !s.sources.is_empty() => s
                .sources
                .iter()
                .map(|t| RelayTrack {
                    name: t.name.clone(),
                    kind: t.kind,
                    codec: t.codec.clone(),
                    rtx_pt: t.rtx_pt,
                    ssrc: 0,
                    rtx_ssrc: None,
                })
                .collect(),
            Some(_) => return Err(DriverError::WrongRole(source)),
            None => return Err(DriverError::UnknownSession(source)),
        };
        let tracks: Vec<RelayTrack> = tracks
            .into_iter()
            .map(|mut t| {
                t.ssrc = self.fresh_ssrc();
                t.rtx_ssrc = t.rtx_pt.map(|_| self.fresh_ssrc());
                t
            })
            .collect();
        let sections = tracks
            .iter()
            .map(|t| ViewSection {
                mid: None,
                kind: t.kind,
                ssrc: t.ssrc,
                rtx_ssrc: t.rtx_ssrc,
                codecs: vec![codec_config(&t.codec, t.rtx_pt)],
                subscription: None,
                resume: None,
            })
            .collect();
        let link = RelayLink::bind(bind, keys.as_ref(), true, &[])?;
        udp::set_buffer_sizes(&link.socket, self.socket_buffer);
        let address = link.local;
        let session = self
            .router
            .create_session(now, sfu_core::SessionConfig::default())?;
        let index = match self.register_link(link, session) {
            Ok(i) => i,
            Err(e) => {
                let _ = self.router.close_session(now, session);
                return Err(e);
            }
        };
        self.sessions.insert(
            session,
            Session {
                link: Some(index),
                sections,
                ..Session::default()
            },
        );
        self.attach(now, session, source)?;
        Ok(RelayOffer {
            session,
            address,
            tracks,
        })
    }

    /// The receiving side of a cascade link: a session that publishes the
    /// offered tracks, fed by packets from the sending node's socket.
    fn relay_in(
        &mut self,
        now: Instant,
        offer: RelayOffer,
        bind: SocketAddr,
        keys: Option<RelayKeys>,
    ) -> Result<(RouterId, SocketAddr), DriverError> {
        let ssrcs: Vec<u32> = offer
            .tracks
            .iter()
            .flat_map(|t| std::iter::once(t.ssrc).chain(t.rtx_ssrc))
            .collect();
        let mut link = RelayLink::bind(bind, keys.as_ref(), false, &ssrcs)?;
        udp::set_buffer_sizes(&link.socket, self.socket_buffer);
        link.remote = Some(offer.address);
        let address = link.local;
        let session = self
            .router
            .create_session(now, sfu_core::SessionConfig::default())?;
        let mut sources = Vec::new();
        for t in &offer.tracks {
            let kind = match t.kind {
                MediaKind::Audio => sfu_core::MediaKind::Audio,
                _ => sfu_core::MediaKind::Video,
            };
            let mut layer = sfu_core::LayerConfig::ssrc(t.ssrc);
            if let Some(rtx) = t.rtx_ssrc {
                layer = layer.with_rtx(rtx);
            }
            let config = sfu_core::TrackConfig {
                name: t.name.clone(),
                kind,
                codecs: vec![codec_config(&t.codec, t.rtx_pt)],
                mid: None,
                layers: vec![layer],
                keyframe_request: sfu_core::KeyframeRequestKind::Pli,
            };
            if let Err(e) = self.router.publish_track(now, session, config) {
                let _ = self.router.close_session(now, session);
                return Err(e.into());
            }
            sources.push(SourceTrack {
                name: t.name.clone(),
                kind: t.kind,
                codec: t.codec.clone(),
                layers: 1,
                rtx_pt: t.rtx_pt,
            });
        }
        let index = match self.register_link(link, session) {
            Ok(i) => i,
            Err(e) => {
                let _ = self.router.close_session(now, session);
                return Err(e);
            }
        };
        self.sessions.insert(
            session,
            Session {
                link: Some(index),
                sources,
                ..Session::default()
            },
        );
        Ok((session, address))
    }

    /// Tells the sending side where the receiving side's socket is.
    fn relay_connect(
        &mut self,
        now: Instant,
        session: RouterId,
        remote: SocketAddr,
    ) -> Result<(), DriverError> {
        let Some(Session {
            link: Some(index),
            sections,
            ..
        }) = self.sessions.get(&session)
        else {
            return Err(DriverError::WrongRole(session));
        };
        if let Some(Some((link, _))) = self.relays.get_mut(*index) {
            link.remote = Some(remote);
        }
        for sub in sections.iter().filter_map(|s| s.subscription) {
            let _ = self.router.request_keyframe(now, sub);
        }
        Ok(())
    }
}

fn relay_send(
    relays: &mut [Option<(RelayLink, RouterId)>],
    index: usize,
    packet: &[u8],
    rtcp: bool,
) {
    let Some(Some((link, _))) = relays.get_mut(index) else {
        return;
    };
    let Some(remote) = link.remote else {
        return;
    };
    match link.seal(packet, rtcp) {
        Some(sealed) => {
            if link.socket.send_to(&sealed, remote).is_err() {
                link.dropped += 1;
            }
        }
        None => link.dropped += 1,
    }
}
