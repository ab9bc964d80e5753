//! The world: the routers, the relay links of the trees, the publisher, the
//! viewers and the links, driven in simulated time from one event queue.

mod metrics;
mod routing;

use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_core::{Router, RouterConfig, SessionId, Shield, ShieldConfig};

use super::tree::{Trees, join_in_turn};
use super::{TreeOptions, TreeReport};
use crate::model::{
    DRAIN, PUB_RTX_SSRC, PUB_SSRC, Publisher, REPORT_INTERVAL, Relay, Schedule, SimLink,
    StuckGuard, TRACK_NAMES, Viewer, ViewerPacket, WARMUP, Wakeups, earliest, open_relay,
    relay_ssrcs, session, tracks,
};

/// A viewer's record of a media packet it never had.
const NEVER: u32 = u32::MAX;

pub(crate) enum Delivery {
    /// A datagram for `node`'s router, from the peer of `session`.
    Router {
        node: usize,
        session: SessionId,
        rtcp: bool,
        data: Bytes,
    },
    /// RTCP for the publisher.
    Publisher(Bytes),
    /// RTP for viewer `v`.
    ViewerRtp { v: usize, packet: ViewerPacket },
    /// RTCP for viewer `v`.
    ViewerRtcp { v: usize, data: Bytes },
}

/// Who is at the other end of one of a router's sessions.
#[derive(Debug, Clone, Copy)]
enum Peer {
    Unused,
    /// The publisher (on the origin).
    Publisher,
    /// A child node, through relay link `r` (this node is its parent).
    Child(usize),
    /// The parent node, through relay link `r`.
    Parent(usize),
    /// Viewer `v`.
    Viewer(usize),
}

struct Node {
    router: Router<Shield>,
    /// By session number.
    peers: Vec<Peer>,
    /// The session each stream's viewers pull from (the publisher's on
    /// the origin, the upstream relay link's elsewhere).
    source: [Option<SessionId>; 2],
}

impl Node {
    fn set_peer(&mut self, session: SessionId, peer: Peer) {
        let at = session.as_u64() as usize;
        if self.peers.len() <= at {
            self.peers.resize(at + 1, Peer::Unused);
        }
        self.peers[at] = peer;
    }

    fn peer(&self, session: SessionId) -> Peer {
        self.peers
            .get(session.as_u64() as usize)
            .copied()
            .unwrap_or(Peer::Unused)
    }
}

/// One relay link of the trees: the in-process relay pair and the two
/// directions of the node ↔ node link.
struct RelayLink {
    parent: usize,
    child: usize,
    relay: Relay,
    down: SimLink,
    up: SimLink,
    /// By packet number: a copy crossed the link down (was not lost).
    carried: Vec<bool>,
}

/// What one node sent on its relay links to children.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Egress {
    /// RTP that is not a retransmission: bytes, packets.
    pub(crate) media: (u64, u64),
    /// RTX retransmissions: bytes, packets.
    pub(crate) rtx: (u64, u64),
    /// Those of packets a copy of which this link had already carried
    /// (delivered or in flight): bytes, packets.
    pub(crate) needless_rtx: (u64, u64),
    /// RTCP bytes.
    pub(crate) rtcp: u64,
}

pub(crate) struct World {
    o: TreeOptions,
    t0: Instant,
    now: Duration,
    trees: Trees,
    nodes: Vec<Node>,
    relays: Vec<RelayLink>,
    publisher: Publisher,
    pub_session: SessionId,
    pub_up: SimLink,
    pub_down: SimLink,
    viewers: Vec<Viewer>,
    viewer_node: Vec<usize>,
    viewer_down: Vec<SimLink>,
    viewer_up: Vec<SimLink>,
    wakeups: Wakeups,
    /// Reused by `Wakeups::run_due`.
    ran: Vec<usize>,
    queue: Schedule<Delivery>,
    next_report: Duration,
    // What the metrics read.
    sent_at: Vec<Duration>,
    pub_lost: Vec<bool>,
    /// Per (media packet, viewer), flat: how late the viewer first had it,
    /// in µs rounded up, or `NEVER`.
    arrivals: Vec<u32>,
    stream_bytes: u64,
    egress: Vec<Egress>,
    /// RTP packets viewers already had.
    viewer_duplicates: u64,
    /// Per node: when it first sent a viewer video.
    first_video: Vec<Option<Duration>>,
}

impl World {
    pub(crate) fn new(o: TreeOptions) -> Self {
        let t0 = Instant::now();
        let trees = join_in_turn(t0, o.nodes, o.fanout).expect("the memory directory answers");
        let shield = || {
            Shield::new(ShieldConfig::default()).expect("the default shield configuration is valid")
        };
        let mut nodes: Vec<Node> = (0..o.nodes)
            .map(|_| Node {
                router: Router::with_loss_recovery(RouterConfig::default(), shield()),
                peers: Vec::new(),
                source: [None; 2],
            })
            .collect();
        let origin = &mut nodes[0];
        let pub_session = session(&mut origin.router, t0);
        for t in tracks(PUB_SSRC, PUB_RTX_SSRC) {
            origin
                .router
                .publish_track(t0, pub_session, t)
                .expect("publish");
        }
        origin.set_peer(pub_session, Peer::Publisher);
        origin.source = [Some(pub_session); 2];
        let m = o.link_model();
        let [d_pub, d_hop, d_viewer] = o.delays;
        let mut relays = Vec::new();
        for (r, (parent, child, streams)) in trees.links().into_iter().enumerate() {
            assert!(parent < child, "a node joins below one already in the tree");
            let (up_nodes, down_nodes) = nodes.split_at_mut(child);
            let (p, c) = (&mut up_nodes[parent], &mut down_nodes[0]);
            let mut sources = [None; 2];
            for &s in &streams {
                sources[s] = Some(p.source[s].expect("the parent has the stream"));
            }
            let relay = open_relay(
                t0,
                (&mut p.router, sources),
                &mut c.router,
                relay_ssrcs(r as u32),
            );
            // A relay link carries every track relayed between two nodes:
            // the node takes it out of the shield's per-session share.
            p.router.loss_recovery_mut().set_trunk(relay.up, true);
            c.router.loss_recovery_mut().set_trunk(relay.down, true);
            p.set_peer(relay.up, Peer::Child(r));
            c.set_peer(relay.down, Peer::Parent(r));
            for &s in &streams {
                c.source[s] = Some(relay.down);
            }
            relays.push(RelayLink {
                parent,
                child,
                relay,
                down: SimLink::new(&m, t0, d_hop, 1000 + 2 * r as u64),
                up: SimLink::new(&m, t0, d_hop, 1001 + 2 * r as u64),
                carried: Vec::new(),
            });
        }
        let mut viewers = Vec::with_capacity(o.viewers);
        let mut viewer_node = Vec::with_capacity(o.viewers);
        for v in 0..o.viewers {
            let n = v % o.nodes;
            let node = &mut nodes[n];
            let viewer = Viewer::new(session(&mut node.router, t0), v);
            for (s, name) in TRACK_NAMES.iter().enumerate() {
                let source = node.source[s].expect("every node is in both trees");
                node.router
                    .pull_track(t0, viewer.session, source, name, viewer.pull(s))
                    .expect("viewer pull");
            }
            node.set_peer(viewer.session, Peer::Viewer(v));
            viewers.push(viewer);
            viewer_node.push(n);
        }
        for node in &mut nodes {
            while node.router.poll_event().is_some() {}
        }
        let links = |first: u64| -> Vec<SimLink> {
            (0..o.viewers)
                .map(|v| SimLink::new(&m, t0, d_viewer, first + 2 * v as u64))
                .collect()
        };
        Self {
            t0,
            now: Duration::ZERO,
            trees,
            egress: vec![Egress::default(); o.nodes],
            nodes,
            relays,
            publisher: Publisher::new(o.seed),
            pub_session,
            pub_up: SimLink::new(&m, t0, d_pub, 10),
            pub_down: SimLink::new(&m, t0, d_pub, 11),
            viewer_down: links(1_000_000),
            viewer_up: links(1_000_001),
            viewers,
            viewer_node,
            wakeups: Wakeups::new(o.viewers),
            ran: Vec::new(),
            queue: Schedule::new(),
            next_report: Duration::from_millis(500),
            sent_at: Vec::new(),
            pub_lost: Vec::new(),
            arrivals: Vec::new(),
            stream_bytes: 0,
            viewer_duplicates: 0,
            first_video: vec![None; o.nodes],
            o,
        }
    }

    fn instant(&self) -> Instant {
        self.t0 + self.now
    }

    pub(crate) fn run(mut self) -> TreeReport {
        let send_end = Duration::from_secs(self.o.seconds);
        let end = send_end + DRAIN;
        let mut guard = StuckGuard::default();
        loop {
            let timers = self.nodes.iter().map(|n| n.router.poll_timeout());
            let Some(next) = earliest(
                self.t0,
                end,
                [
                    self.queue.next_at(),
                    self.publisher.next_send(send_end),
                    Some(self.next_report),
                ],
                timers.chain([self.wakeups.next()]),
            ) else {
                break;
            };
            self.now = next.max(self.now);
            guard.check(self.now);
            self.step(send_end);
        }
        self.report()
    }

    fn step(&mut self, send_end: Duration) {
        let now = self.now;
        while let Some(d) = self.queue.pop_due(now) {
            self.deliver(d);
        }
        self.publisher.send_due(now, send_end);
        self.drain_publisher();
        if self.next_report <= now {
            self.send_reports();
            self.next_report += REPORT_INTERVAL;
        }
        let instant = self.instant();
        for n in 0..self.nodes.len() {
            let router = &mut self.nodes[n].router;
            if router.poll_timeout().is_some_and(|t| t <= instant) {
                router.handle_timeout(instant);
                self.drain(n);
            }
        }
        let mut ran = std::mem::take(&mut self.ran);
        self.wakeups.run_due(instant, &mut self.viewers, &mut ran);
        for &v in &ran {
            self.viewer_nacks(v);
        }
        self.ran = ran;
    }

    // ------------------------------------------------------- the publisher

    /// Sends what the publisher has queued to the origin.
    fn drain_publisher(&mut self) {
        while let Some(sent) = self.publisher.poll_transmit() {
            let (at, rtcp, data, id) = sent.into_parts(self.now);
            if let Some(id) = id {
                debug_assert_eq!(id as usize, self.sent_at.len());
                self.sent_at.push(at);
                self.stream_bytes += data.len() as u64;
                let arrivals = self.arrivals.len() + self.viewers.len();
                self.arrivals.resize(arrivals, NEVER);
            }
            let arrival = self.pub_up.send(at);
            if id.is_some() {
                self.pub_lost.push(arrival.is_none());
            }
            if let Some(t) = arrival {
                let d = Delivery::Router {
                    node: 0,
                    session: self.pub_session,
                    rtcp,
                    data,
                };
                self.queue.push(t, d);
            }
        }
    }

    fn send_reports(&mut self) {
        self.publisher.send_reports(self.now);
        self.drain_publisher();
        for v in 0..self.viewers.len() {
            let rr = self.viewers[v].receiver_report(self.now);
            self.viewer_to_node(v, rr);
        }
    }

    // --------------------------------------------------------- the viewers

    fn viewer_to_node(&mut self, v: usize, data: Bytes) {
        if let Some(arrival) = self.viewer_up[v].send(self.now) {
            let d = Delivery::Router {
                node: self.viewer_node[v],
                session: self.viewers[v].session,
                rtcp: true,
                data,
            };
            self.queue.push(arrival, d);
        }
    }

    fn viewer_rtp(&mut self, v: usize, packet: ViewerPacket) {
        let (now, instant) = (self.now, self.instant());
        if self.viewers[v].handle_rtp(now, instant, packet) {
            if let Some(id) = packet.id.map(|id| id as usize)
                && let Some(&sent) = self.sent_at.get(id)
                && let Some(a) = self.arrivals.get_mut(id * self.o.viewers + v)
                && *a == NEVER
            {
                let late = now.saturating_sub(sent).as_nanos().div_ceil(1000);
                *a = late.min(u128::from(NEVER - 1)) as u32;
            }
            self.viewer_nacks(v);
        } else {
            self.viewer_duplicates += 1;
        }
        self.wakeups.arm(v, self.viewers[v].poll_timeout());
    }

    fn viewer_nacks(&mut self, v: usize) {
        let (now, instant) = (self.now, self.instant());
        for nack in self.viewers[v].nacks(now, instant).into_iter().flatten() {
            self.viewer_to_node(v, nack);
        }
        self.wakeups.arm(v, self.viewers[v].poll_timeout());
    }
}
