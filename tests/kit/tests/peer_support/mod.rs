//! Shared by the `peer_*` tests: an `sfu_net::Endpoint` and stand-in peers
//! on an in-memory network (no loss, no delay) in simulated time.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sfu_net::sdp::{Capabilities, Description, IceParameters, LocalTransport, PublishOffer};
use sfu_net::{
    Certificate, Endpoint, EndpointConfig, EndpointEvent, IceCredentials, TransportConfig,
};
use sfu_testkit::peer::Peer;

/// The SFU's IPv4 socket.
pub const SFU_V4: &str = "192.0.2.1:8443";
/// The SFU's IPv6 socket (listed second in its SDP).
pub const SFU_V6: &str = "[2001:db8::1]:8443";

pub type Ep = Endpoint<u64>;
pub type Event = EndpointEvent<u64>;

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn endpoint(config: EndpointConfig) -> Ep {
    Endpoint::new(config, Certificate::generate().unwrap()).unwrap()
}

/// Our ICE credentials for one session, seeded, and the transport the SDP
/// module writes: both host candidates, IPv4 first.
pub fn local_transport(ep: &Ep, seed: u8) -> (IceCredentials, LocalTransport) {
    let random: [u8; 32] = core::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8));
    let credentials = IceCredentials::from_random(&random);
    let local = LocalTransport {
        ice: IceParameters::from(&credentials),
        fingerprint: *ep.certificate().fingerprint(),
        candidates: vec![addr(SFU_V4), addr(SFU_V6)],
        session_id: 4_242_000 + u64::from(seed),
    };
    (credentials, local)
}

/// The peer publishes: its offer is answered by `PublishOffer`, the
/// session is added under `id` with the SSRCs the peer sends from, and the
/// peer applies the answer. Returns the offer, the answer and the transport.
pub fn publish(
    ep: &mut Ep,
    peer: &mut Peer,
    id: u64,
    now: Instant,
) -> (PublishOffer, Description, LocalTransport) {
    let (credentials, local) = local_transport(ep, id as u8);
    let offer_text = peer.create_offer();
    let offer = PublishOffer::parse(&offer_text).expect("the SFU reads the peer's offer");
    let answer = offer
        .answer(&local, &Capabilities::default())
        .expect("the SFU answers the peer's offer");
    ep.add_session(
        now,
        id,
        TransportConfig {
            credentials,
            remote_ufrag: Some(offer.remote().ice.ufrag.clone()),
            remote_fingerprint: offer.remote().fingerprint,
            remote_ssrcs: peer.local_ssrcs(),
            learn_remote_ssrcs: false,
        },
    )
    .unwrap();
    peer.apply_answer(&answer.to_sdp())
        .expect("the peer applies the SFU's answer");
    (offer, answer, local)
}

/// Moves datagrams both ways (instantly) until nothing is in flight.
pub fn deliver(ep: &mut Ep, peers: &mut [&mut Peer], now: Instant, events: &mut Vec<Event>) {
    for _ in 0..10_000 {
        let mut moved = false;
        for peer in peers.iter_mut() {
            while let Some((to, data)) = peer.poll_transmit() {
                ep.handle_datagram(now, peer.addr(), to, &data);
                moved = true;
            }
        }
        while let Some(t) = ep.poll_transmit() {
            if let Some(peer) = peers.iter_mut().find(|p| p.addr() == t.destination) {
                peer.handle_datagram(now, t.source, &t.contents);
            }
            moved = true;
        }
        while let Some(e) = ep.poll_event() {
            events.push(e);
        }
        if !moved {
            return;
        }
    }
    panic!("the network never went quiet");
}

/// Runs the endpoint and the peers in simulated time from `*now` to
/// `until`, firing every timer when due; returns the endpoint's events.
pub fn run(ep: &mut Ep, peers: &mut [&mut Peer], now: &mut Instant, until: Instant) -> Vec<Event> {
    let mut events = Vec::new();
    deliver(ep, peers, *now, &mut events);
    for _ in 0..1_000_000 {
        let next = peers
            .iter()
            .filter_map(|p| p.poll_timeout())
            .chain(ep.poll_timeout())
            .min();
        let Some(next) = next.filter(|t| *t <= until) else {
            *now = until;
            return events;
        };
        // Timers in the past fire now; never step back.
        let at = next.max(*now);
        *now = at;
        if ep.poll_timeout().is_some_and(|t| t <= at) {
            ep.handle_timeout(at);
        }
        for peer in peers.iter_mut() {
            if peer.poll_timeout().is_some_and(|t| t <= at) {
                peer.handle_timeout(at);
            }
        }
        deliver(ep, peers, at, &mut events);
        // A timer that stays due after firing would spin: move on a little.
        let stuck = peers
            .iter()
            .filter_map(|p| p.poll_timeout())
            .chain(ep.poll_timeout())
            .all(|t| t <= at);
        if stuck {
            *now = at + Duration::from_millis(1);
        }
    }
    panic!("simulated time never reached its end");
}

/// Runs until the peer is connected (at most 10 simulated seconds).
pub fn connect(ep: &mut Ep, peer: &mut Peer, now: &mut Instant) -> Vec<Event> {
    let mut events = Vec::new();
    let deadline = *now + Duration::from_secs(10);
    while !peer.is_connected() && *now < deadline {
        let step = *now + Duration::from_millis(50);
        events.extend(run(ep, &mut [&mut *peer], now, step));
    }
    assert!(
        peer.is_connected(),
        "not connected: {:?}",
        peer.dtls_failure()
    );
    events
}

/// A plain RTP packet as the SFU would forward it.
pub fn rtp_packet(pt: u8, seq: u16, timestamp: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Header fields of a decrypted RTP packet: (pt, seq, ssrc, payload offset).
pub fn rtp_fields(p: &[u8]) -> (u8, u16, u32, usize) {
    let csrc = usize::from(p[0] & 0x0f);
    let mut at = 12 + 4 * csrc;
    if p[0] & 0x10 != 0 {
        let words = usize::from(u16::from_be_bytes([p[at + 2], p[at + 3]]));
        at += 4 + 4 * words;
    }
    (
        p[1] & 0x7f,
        u16::from_be_bytes([p[2], p[3]]),
        u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
        at,
    )
}

/// The value of one-byte header extension `id` in a decrypted RTP packet.
pub fn rtp_extension(p: &[u8], id: u8) -> Option<Vec<u8>> {
    if p[0] & 0x10 == 0 {
        return None;
    }
    let at = 12 + 4 * usize::from(p[0] & 0x0f);
    assert_eq!(&p[at..at + 2], &[0xbe, 0xde], "one-byte extension header");
    let words = usize::from(u16::from_be_bytes([p[at + 2], p[at + 3]]));
    let body = &p[at + 4..at + 4 + 4 * words];
    let mut i = 0;
    while i < body.len() {
        if body[i] == 0 {
            i += 1;
            continue;
        }
        let (eid, len) = (body[i] >> 4, usize::from(body[i] & 0x0f) + 1);
        if eid == id {
            return Some(body[i + 1..i + 1 + len].to_vec());
        }
        i += 1 + len;
    }
    None
}
