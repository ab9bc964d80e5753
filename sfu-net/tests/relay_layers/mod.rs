//! What the relay-layer tests share: a simulcast camera whose layers a
//! viewer can tell apart, relay links between the world's nodes, and a
//! tap that counts what one node sends another per SSRC.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sfu_net::{PullTrack, RelayKeys, SessionId, SrtpProfile};
use sfu_testkit::peer::PeerConfig;

use crate::node_world::{World, node_addr, peer_addr};

/// The publisher's layers, lowest first.
pub const RIDS: [&str; 3] = ["q", "h", "f"];

/// A simulcast camera: VP8 at 30 fps on every layer, layer `i` sending
/// `i + 1` packets a frame, so a viewer can tell from the packets of a
/// frame which layer it receives. A keyframe on every layer every 2 s, or
/// as soon as the SFU asks for one.
pub struct SimulcastCamera {
    pub peer: usize,
    pub mid: String,
    /// It sends this many layers, from the lowest (3: all).
    pub layers: usize,
    next_frame: Option<Instant>,
    frames: u64,
}

impl SimulcastCamera {
    pub fn new(peer: usize, mid: &str) -> Self {
        Self {
            peer,
            mid: mid.to_owned(),
            layers: RIDS.len(),
            next_frame: None,
            frames: 0,
        }
    }

    /// Sends what is due at `w.now` (once the peer is connected).
    pub fn tick(&mut self, w: &mut World) {
        let now = w.now;
        let peer = &mut w.peers[self.peer];
        if !peer.is_connected() || self.next_frame.is_some_and(|t| t > now) {
            return;
        }
        let keyframe = self.frames.is_multiple_of(60) || peer.keyframe_requested_on(&self.mid);
        for (i, rid) in RIDS.iter().enumerate().take(self.layers) {
            peer.send_vp8_frame(now, &self.mid, Some(rid), keyframe, i + 1)
                .unwrap();
        }
        self.frames += 1;
        self.next_frame = Some(now + Duration::from_micros(33_333));
    }
}

/// A simulcast publisher on `node`: the peer and its session (its one
/// track is named "0").
pub fn simulcast_publisher(w: &mut World, node: usize, peer: usize) -> (usize, SessionId) {
    let p = w.add_peer(PeerConfig::new(peer_addr(peer), 700 + peer as u64).send_simulcast(&RIDS));
    let session = w.publish(node, p);
    (p, session)
}

/// Opens an unkeyed relay link between nodes `a` and `b`: `(a's end, b's end)`.
pub fn link(w: &mut World, a: usize, b: usize) -> (SessionId, SessionId) {
    open(w, a, b, None)
}

/// Opens an SRTP-keyed relay link between nodes `a` and `b`. SRTP leaves
/// RTP headers in the clear, so a [`LinkTap`] still reads SSRCs.
pub fn keyed_link(w: &mut World, a: usize, b: usize) -> (SessionId, SessionId) {
    let profile = SrtpProfile::AeadAes128Gcm;
    let material = (0..profile.keying_material_len())
        .map(|i| (i * 7 + a * 31 + b) as u8)
        .collect();
    open(w, a, b, Some(RelayKeys::new(profile, material).unwrap()))
}

fn open(w: &mut World, a: usize, b: usize, keys: Option<RelayKeys>) -> (SessionId, SessionId) {
    let now = w.now;
    let ab = w.nodes[a]
        .open_relay(now, node_addr(b), keys.as_ref(), true)
        .unwrap();
    let ba = w.nodes[b]
        .open_relay(now, node_addr(a), keys.as_ref(), false)
        .unwrap();
    (ab, ba)
}

/// Relays `publisher`'s track `name` from node `a` (link end `out`) to
/// node `b` (link end `inn`) as `relay_name`; returns the link SSRC of each
/// layer, lowest first.
pub fn relay(
    w: &mut World,
    (a, out): (usize, SessionId),
    (b, inn): (usize, SessionId),
    publisher: SessionId,
    name: &str,
    relay_name: &str,
) -> Vec<u32> {
    let now = w.now;
    let track = w.nodes[a]
        .relay_track(now, out, publisher, name, relay_name)
        .unwrap();
    let ssrcs = track.layers.iter().map(|l| l.ssrc).collect();
    w.nodes[b].accept_relay_track(now, inn, track).unwrap();
    w.flush();
    ssrcs
}

/// A viewer on `node` of `(publisher, name)` preferring `rid`: the peer
/// and its session (it receives on mid "0").
pub fn viewer(
    w: &mut World,
    node: usize,
    peer: usize,
    publisher: SessionId,
    name: &str,
    rid: Option<&str>,
) -> (usize, SessionId) {
    let p = w.add_peer(PeerConfig::new(peer_addr(peer), 800 + peer as u64).receive_video());
    let offer = w.peers[p].create_offer();
    let viewing = w.nodes[node]
        .view(
            w.now,
            &offer,
            &[PullTrack::new(publisher, name)],
            rid.map(str::to_owned),
        )
        .unwrap();
    w.peers[p].apply_answer(&viewing.answer).unwrap();
    w.flush();
    (p, viewing.session)
}

/// The layer each frame the peer received on mid "0" since `since` came
/// from (by its packet count: layer `i` has `i + 1`), as counts per layer.
pub fn layers_received(w: &World, peer: usize, since: Instant) -> [usize; 3] {
    let mut frames: BTreeMap<u32, (usize, Instant)> = BTreeMap::new();
    for r in w.peers[peer].received() {
        if r.mid.as_deref() == Some("0") && r.at >= since && !r.rtx {
            let e = frames.entry(r.timestamp).or_insert((0, r.at));
            e.0 += 1;
        }
    }
    let mut counts = [0; 3];
    for (packets, _) in frames.values() {
        if let Some(c) = counts.get_mut(packets.wrapping_sub(1)) {
            *c += 1;
        }
    }
    counts
}

/// Asserts the peer received frames of `layer` only since `since`, and
/// enough of them (30 fps: at least 20 a second of `window`).
#[track_caller]
pub fn assert_receives(w: &World, peer: usize, layer: usize, since: Instant) {
    let counts = layers_received(w, peer, since);
    let window = w.now.saturating_duration_since(since).as_secs_f64();
    let others: usize = counts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != layer)
        .map(|(_, c)| c)
        .sum();
    assert!(
        counts[layer] as f64 >= 20.0 * window && others <= 1,
        "peer {peer} received frames per layer {counts:?} in {window:.1} s, wanted layer {layer}"
    );
}

/// Counts the RTP packets one node sends another, per SSRC, on an unkeyed
/// link. Call [`LinkTap::take`] from the world's media callback (before the
/// world moves datagrams onto links): it drains everything the node queued,
/// counts what goes to the other node and hands every datagram straight to
/// its destination.
pub struct LinkTap {
    pub from: usize,
    pub to: usize,
    pub rtp: HashMap<u32, usize>,
    /// RTCP datagrams (feedback, demand) seen toward `to`.
    pub rtcp: usize,
    /// Of those, the ones that are an APP packet (the layer demand; SRTCP
    /// leaves the first header in the clear).
    pub apps: usize,
}

impl LinkTap {
    pub fn new(from: usize, to: usize) -> Self {
        Self {
            from,
            to,
            rtp: HashMap::new(),
            rtcp: 0,
            apps: 0,
        }
    }

    pub fn take(&mut self, w: &mut World) {
        let now = w.now;
        let from = node_addr(self.from);
        let mut sends = Vec::new();
        while let Some(t) = w.nodes[self.from].poll_transmit() {
            sends.push((t.destination, t.contents.to_vec()));
        }
        for (to, d) in sends {
            if to == node_addr(self.to) {
                match d.get(1) {
                    Some(200..=206) => {
                        self.rtcp += 1;
                        self.apps += usize::from(d[1] == 204);
                    }
                    _ if d.len() >= 12 => {
                        let ssrc = u32::from_be_bytes(d[8..12].try_into().unwrap());
                        *self.rtp.entry(ssrc).or_default() += 1;
                    }
                    _ => {}
                }
            }
            deliver(w, now, from, to, &d);
        }
    }

    /// Packets counted on `ssrc`.
    pub fn on(&self, ssrc: u32) -> usize {
        self.rtp.get(&ssrc).copied().unwrap_or(0)
    }

    pub fn clear(&mut self) {
        self.rtp.clear();
        self.rtcp = 0;
        self.apps = 0;
    }
}

/// Hands a datagram to whichever node or peer lives at `to`.
pub fn deliver(w: &mut World, now: Instant, from: SocketAddr, to: SocketAddr, d: &[u8]) {
    if let Some(i) = (0..w.nodes.len()).find(|&i| node_addr(i) == to) {
        w.nodes[i].handle_datagram(now, from, to, d);
    } else if let Some(p) = w.peers.iter_mut().find(|p| p.addr() == to) {
        p.handle_datagram(now, from, d);
    }
}
