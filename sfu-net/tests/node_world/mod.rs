//! A whole SFU in simulated time: one or more `sfu_net::Node`s and stand-in
//! WebRTC peers (the test kit's, on implementations we did not write) on
//! an in-memory network whose every direction is a seeded netem link.
//! Nothing reads the clock: the same seed gives the same run.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sfu_net::{Certificate, Node, NodeConfig, NodeEvent, SessionId};
use sfu_testkit::netem::{Link, LinkConfig};
use sfu_testkit::peer::{Peer, PeerConfig};
use sfu_testkit::rng::Rng;

/// Simulated time advances in steps of this much.
pub const TICK: Duration = Duration::from_millis(1);

pub fn node_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 1 + i as u8], 8443))
}

pub fn peer_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([203, 0, 113, 1 + i as u8], 50_000))
}

/// The certificate generation is the only randomness the run does not
/// control (ring draws it); it changes fingerprints, not the run's trace.
fn certificate() -> Certificate {
    Certificate::generate().unwrap()
}

pub struct World {
    pub start: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub peers: Vec<Peer>,
    /// Node events seen so far, per node, in order.
    pub events: Vec<Vec<NodeEvent>>,
    links: HashMap<(SocketAddr, SocketAddr), Link<Vec<u8>>>,
    default_link: LinkConfig,
    seed: u64,
    /// One line per thing an observer sees: events, delivered packets.
    pub trace: String,
    /// Datagrams delivered to addresses registered with
    /// [`World::add_sink`] (where no node or peer lives), in arrival order.
    pub sinks: HashMap<SocketAddr, Vec<Vec<u8>>>,
}

impl World {
    pub fn new(seed: u64, nodes: usize) -> World {
        let start = Instant::now();
        let nodes = (0..nodes)
            .map(|i| {
                let mut s = [0u8; 32];
                s[..8].copy_from_slice(&seed.to_be_bytes());
                s[8] = i as u8;
                Node::new(NodeConfig::new(certificate(), s).with_candidates(vec![node_addr(i)]))
                    .unwrap()
            })
            .collect::<Vec<_>>();
        let events = nodes.iter().map(|_| Vec::new()).collect();
        World {
            start,
            now: start,
            nodes,
            peers: Vec::new(),
            events,
            links: HashMap::new(),
            default_link: LinkConfig::new(Duration::from_millis(10)),
            seed,
            trace: String::new(),
            sinks: HashMap::new(),
        }
    }

    /// Datagrams to `addr` are kept in [`World::sinks`] instead of being
    /// dropped: a stand-in for an endpoint the test plays itself.
    pub fn add_sink(&mut self, addr: SocketAddr) {
        self.sinks.entry(addr).or_default();
    }

    /// Every link made from now on has `config`.
    pub fn set_default_link(&mut self, config: LinkConfig) {
        self.default_link = config;
    }

    /// The link from `from` to `to` has `config` (both set once, before use).
    pub fn set_link(&mut self, from: SocketAddr, to: SocketAddr, config: LinkConfig) {
        let rng = Rng::splitmix_stream(self.seed, self.links.len() as u64 + 1000);
        self.links.insert((from, to), Link::new(config, rng));
    }

    pub fn add_peer(&mut self, config: PeerConfig) -> usize {
        self.peers.push(Peer::new(self.now, config));
        self.peers.len() - 1
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// One tick: deliver what is due, run due timers, let `media` act,
    /// move every queued datagram onto its link.
    fn step(&mut self, media: &mut dyn FnMut(&mut World)) {
        self.now += TICK;
        let now = self.now;
        let mut due = Vec::new();
        for ((from, to), link) in &mut self.links {
            while let Some(d) = link.poll(now) {
                due.push((*from, *to, d));
            }
        }
        // HashMap order is random: deliver in a fixed order.
        due.sort();
        for (from, to, d) in due {
            if let Some(i) = (0..self.nodes.len()).find(|&i| node_addr(i) == to) {
                self.nodes[i].handle_datagram(now, from, to, &d);
            } else if let Some(p) = self.peers.iter_mut().find(|p| p.addr() == to) {
                p.handle_datagram(now, from, &d);
            } else if let Some(sink) = self.sinks.get_mut(&to) {
                sink.push(d);
            }
        }
        for n in &mut self.nodes {
            if n.poll_timeout().is_some_and(|t| t <= now) {
                n.handle_timeout(now);
            }
        }
        for p in &mut self.peers {
            if p.poll_timeout().is_some_and(|t| t <= now) {
                p.handle_timeout(now);
            }
        }
        media(self);
        self.flush();
    }

    /// Moves queued datagrams onto links and node events into `events`.
    pub fn flush(&mut self) {
        let now = self.now;
        let mut sends = Vec::new();
        for (i, n) in self.nodes.iter_mut().enumerate() {
            while let Some(t) = n.poll_transmit() {
                sends.push((node_addr(i), t.destination, t.contents.to_vec()));
            }
            while let Some(e) = n.poll_event() {
                writeln!(self.trace, "{:?} node{i} {e:?}", now - self.start).unwrap();
                self.events[i].push(e);
            }
        }
        for p in &mut self.peers {
            while let Some((to, d)) = p.poll_transmit() {
                sends.push((p.addr(), to, d));
            }
        }
        for (from, to, d) in sends {
            if !self.links.contains_key(&(from, to)) {
                let config = self.default_link;
                self.set_link(from, to, config);
            }
            if let Some(link) = self.links.get_mut(&(from, to)) {
                link.send(now, d);
            }
        }
    }

    pub fn run(&mut self, d: Duration) {
        self.run_with(d, &mut |_| {});
    }

    /// Runs for `d` of simulated time, `media` acting at every tick.
    pub fn run_with(&mut self, d: Duration, media: &mut dyn FnMut(&mut World)) {
        let end = self.now + d;
        while self.now < end {
            self.step(media);
        }
    }

    /// Runs until `done` holds (checked every tick), at most `limit`.
    pub fn run_until(&mut self, limit: Duration, done: impl Fn(&World) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.step(&mut |_| {});
        }
        done(self)
    }

    /// The peer's offer answered by `publish` on node `node`.
    pub fn publish(&mut self, node: usize, peer: usize) -> SessionId {
        let offer = self.peers[peer].create_offer();
        let p = self.nodes[node].publish(self.now, &offer).unwrap();
        self.peers[peer].apply_answer(&p.answer).unwrap();
        self.flush();
        p.session
    }

    /// The peer views `source` on node `node` (WHEP).
    pub fn view(&mut self, node: usize, peer: usize, source: Option<SessionId>) -> SessionId {
        let offer = self.peers[peer].create_offer();
        let pulls = source
            .map(|s| self.nodes[node].source_pulls(s))
            .unwrap_or_default();
        let v = self.nodes[node]
            .view(self.now, &offer, &pulls, None)
            .unwrap();
        self.peers[peer].apply_answer(&v.answer).unwrap();
        self.flush();
        v.session
    }

    pub fn connected(&self, peers: &[usize]) -> bool {
        peers.iter().all(|&p| self.peers[p].is_connected())
    }

    /// Whether node `node` reported that it ended `session`'s published
    /// track `name` itself (`NodeEvent::TrackEnded`).
    pub fn track_ended(&self, node: usize, session: SessionId, name: &str) -> bool {
        self.events[node].iter().any(|e| {
            matches!(e, NodeEvent::TrackEnded { session: s, name: n, .. }
                if *s == session && n == name)
        })
    }

    /// Whether node `node` reported the pull on `session`'s `mid` ended.
    pub fn subscription_ended(&self, node: usize, session: SessionId, mid: &str) -> bool {
        self.events[node].iter().any(|e| {
            matches!(e, NodeEvent::SubscriptionEnded { session: s, mid: Some(m), .. }
                if *s == session && m == mid)
        })
    }

    /// The names of the tracks `session` publishes on node `node`.
    pub fn published_names(&self, node: usize, session: SessionId) -> Vec<String> {
        self.nodes[node]
            .published_tracks(session)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// Whether node `node` reported `session` closed.
    pub fn closed(&self, node: usize, session: SessionId) -> bool {
        self.events[node]
            .iter()
            .any(|e| matches!(e, NodeEvent::Closed { session: s, .. } if *s == session))
    }
}

/// A camera: VP8 at 30 fps (a keyframe every 2 s, or when asked; 3
/// packets a frame) on `video_mid` and Opus every 20 ms on `audio_mid`.
pub struct Camera {
    pub peer: usize,
    pub audio_mid: Option<String>,
    pub video_mid: Option<String>,
    next_frame: Option<Instant>,
    next_audio: Option<Instant>,
    frames: u64,
}

impl Camera {
    pub fn new(peer: usize, audio_mid: Option<&str>, video_mid: Option<&str>) -> Self {
        Self {
            peer,
            audio_mid: audio_mid.map(str::to_owned),
            video_mid: video_mid.map(str::to_owned),
            next_frame: None,
            next_audio: None,
            frames: 0,
        }
    }

    /// Sends what is due at `w.now` (once the peer is connected).
    pub fn tick(&mut self, w: &mut World) {
        let now = w.now;
        let peer = &mut w.peers[self.peer];
        if !peer.is_connected() {
            return;
        }
        if let Some(mid) = &self.video_mid
            && self.next_frame.is_none_or(|t| t <= now)
        {
            let keyframe = self.frames.is_multiple_of(60) || peer.keyframe_requested_on(mid);
            let _ = peer.send_vp8_frame(now, mid, None, keyframe, 3);
            self.frames += 1;
            self.next_frame = Some(now + Duration::from_micros(33_333));
        }
        if let Some(mid) = &self.audio_mid
            && self.next_audio.is_none_or(|t| t <= now)
        {
            let _ = peer.send_opus(now, mid);
            self.next_audio = Some(now + Duration::from_millis(20));
        }
    }
}

/// Media the peer received on `mid`, originals and repairs, as
/// `(seq, timestamp)` in arrival order.
pub fn received_on(w: &World, peer: usize, mid: &str) -> Vec<(u16, u32)> {
    w.peers[peer]
        .received()
        .iter()
        .filter(|r| r.mid.as_deref() == Some(mid))
        .map(|r| (r.seq, r.timestamp))
        .collect()
}

/// The mids a peer receives on, with their kinds, in order.
pub fn receiving_mids(w: &World, peer: usize) -> Vec<String> {
    w.peers[peer]
        .mids()
        .into_iter()
        .filter(|(_, d)| format!("{d:?}").to_lowercase().contains("recv"))
        .map(|(m, _)| m)
        .collect()
}
