//! An in-memory network between an `Endpoint` and the test kit's stand-in
//! browser (`sfu_testkit::peer::Peer`: real ICE with `rtc-stun`, a real
//! DTLS client with `dimpl`, SRTP with `rtc-srtp`), in simulated time.
//! Sessions are set up the way a real one is: the peer's SDP offer is
//! answered by `PublishOffer`, the session is added with what the offer
//! says, and the peer applies the answer.
//!
//! What a real peer never sends — a check with the wrong password, one
//! without FINGERPRINT, one naming another ufrag — is hand-crafted here
//! with `rtc-stun`, and the endpoint's replies are checked with it too.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtc_stun::attributes::{
    ATTR_ICE_CONTROLLING, ATTR_PRIORITY, ATTR_USE_CANDIDATE, ATTR_USERNAME, RawAttribute,
};
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{BINDING_REQUEST, BINDING_SUCCESS, Getter, Message, Setter, TransactionId};
use rtc_stun::textattrs::TextAttribute;
use rtc_stun::xoraddr::XorMappedAddress;
use sfu_net::sdp::{Capabilities, Description, IceParameters, LocalTransport, PublishOffer};
use sfu_net::{
    Certificate, EndpointConfig, EndpointEvent, Fingerprint, IceCredentials, TransportConfig,
};
use sfu_testkit::peer::{Peer, PeerConfig};

/// The tests name endpoint sessions by a number.
pub type SessionId = u64;
pub type Endpoint = sfu_net::Endpoint<SessionId>;
pub type Event = EndpointEvent<SessionId>;

/// The endpoint's IPv4 socket: its first candidate, the one the peers check.
pub const SERVER: &str = "192.0.2.1:8443";
/// The endpoint's IPv6 socket (listed second in its SDP).
pub const SERVER_V6: &str = "[2001:db8::1]:8443";

pub fn server_addr() -> SocketAddr {
    SERVER.parse().unwrap()
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn endpoint(config: EndpointConfig) -> Endpoint {
    Endpoint::new(config, Certificate::generate().unwrap()).unwrap()
}

/// A stand-in browser at `at` that publishes one audio track.
pub fn audio_peer(now: Instant, at: &str, seed: u64) -> Peer {
    Peer::new(now, PeerConfig::new(addr(at), seed).send_audio())
}

/// Our ICE credentials for session `id`, seeded, and the transport the SDP
/// module writes: both host candidates, IPv4 first.
pub fn local_transport(ep: &Endpoint, id: SessionId) -> (IceCredentials, LocalTransport) {
    let seed = id as u8;
    let random: [u8; 32] = core::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8));
    let credentials = IceCredentials::from_random(&random);
    let local = LocalTransport {
        ice: IceParameters::from(&credentials),
        fingerprint: *ep.certificate().fingerprint(),
        candidates: vec![server_addr(), addr(SERVER_V6)],
        session_id: 4_242_000 + id,
    };
    (credentials, local)
}

/// How a test bends the otherwise ordinary session setup of [`publish_sdp`].
#[derive(Debug, Default, Clone)]
pub struct Setup {
    /// Replaces the fingerprint in the peer's offer: its certificate then
    /// does not match what the session expects.
    pub offer_fingerprint: Option<Fingerprint>,
    /// Hands the session only the SSRCs the offer's SDP lines name (none
    /// for rid simulcast), not every SSRC the peer will send from.
    pub signalled_ssrcs_only: bool,
    /// `TransportConfig::learn_remote_ssrcs`.
    pub learn_remote_ssrcs: bool,
}

/// The peer publishes: [`publish_with`] with nothing bent.
pub fn publish(ep: &mut Endpoint, peer: &mut Peer, id: SessionId, now: Instant) -> IceCredentials {
    publish_with(ep, peer, id, now, Setup::default())
}

/// [`publish_sdp`], returning only the session's (the endpoint's) ICE
/// credentials, for the tests that hand-craft checks.
pub fn publish_with(
    ep: &mut Endpoint,
    peer: &mut Peer,
    id: SessionId,
    now: Instant,
    setup: Setup,
) -> IceCredentials {
    publish_sdp(ep, peer, id, now, setup).credentials
}

/// What [`publish_sdp`] negotiated, for the tests that go on with the SDP
/// (renegotiation, checks on the answer).
#[derive(Debug)]
pub struct Published {
    /// The session's (the endpoint's) ICE credentials.
    pub credentials: IceCredentials,
    /// The peer's offer as the SFU read it.
    pub offer: PublishOffer,
    /// The SFU's answer.
    pub answer: Description,
    /// The transport the answer was written with.
    pub local: LocalTransport,
}

/// The peer's offer is answered by `PublishOffer`, the session is added
/// under `id` from what the offer says, and the peer applies the answer.
pub fn publish_sdp(
    ep: &mut Endpoint,
    peer: &mut Peer,
    id: SessionId,
    now: Instant,
    setup: Setup,
) -> Published {
    let (credentials, local) = local_transport(ep, id);
    let mut offer_text = peer.create_offer();
    if let Some(fake) = setup.offer_fingerprint {
        let real = PublishOffer::parse(&offer_text)
            .unwrap()
            .remote()
            .fingerprint;
        offer_text = offer_text.replace(&real.sdp_value(), &fake.sdp_value());
    }
    let offer = PublishOffer::parse(&offer_text).expect("the SFU reads the peer's offer");
    let answer = offer
        .answer(&local, &Capabilities::default())
        .expect("the SFU answers the peer's offer");
    let remote_ssrcs = if setup.signalled_ssrcs_only {
        offer
            .tracks(&answer)
            .iter()
            .flat_map(|t| t.ssrc.into_iter().chain(t.rtx_ssrc))
            .collect()
    } else {
        peer.local_ssrcs()
    };
    ep.add_session(
        now,
        id,
        TransportConfig {
            credentials: credentials.clone(),
            remote_ufrag: Some(offer.remote().ice.ufrag.clone()),
            remote_fingerprint: offer.remote().fingerprint,
            remote_ssrcs,
            learn_remote_ssrcs: setup.learn_remote_ssrcs,
        },
    )
    .unwrap();
    peer.apply_answer(&answer.to_sdp())
        .expect("the peer applies the SFU's answer");
    Published {
        credentials,
        offer,
        answer,
        local,
    }
}

/// The peer's first (nominated) check, taken off its queue instead of
/// sent: the test delivers it, or replays it, or tampers with it.
pub fn first_check(peer: &mut Peer, now: Instant) -> Vec<u8> {
    peer.handle_timeout(now);
    let (to, check) = peer.poll_transmit().expect("the peer checks at once");
    assert_eq!(to, server_addr());
    assert!(check[0] < 4, "a STUN message");
    check
}

/// A genuine ClientHello from a peer whose check a scratch endpoint
/// answered: DTLS a session on `ep`'s side never asked for.
pub fn stranger_client_hello(now: Instant, at: &str, seed: u64) -> Vec<u8> {
    let mut scratch = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(now, at, seed);
    publish(&mut scratch, &mut peer, seed, now);
    let check = first_check(&mut peer, now);
    scratch.handle_datagram(now, peer.addr(), server_addr(), &check);
    let reply = scratch
        .poll_transmit()
        .expect("the scratch endpoint answers");
    peer.handle_datagram(now, reply.source, &reply.contents);
    let (_, hello) = peer.poll_transmit().expect("a ClientHello");
    assert_eq!(hello[0], 22, "a DTLS handshake record");
    hello
}

/// The endpoint's socket a reply to `peer` goes out from: its candidate of
/// the peer's address family.
pub fn server_addr_for(peer: SocketAddr) -> SocketAddr {
    if peer.is_ipv4() {
        server_addr()
    } else {
        addr(SERVER_V6)
    }
}

/// Moves datagrams both ways (instantly) until nothing is in flight.
pub fn deliver(ep: &mut Endpoint, peers: &mut [&mut Peer], now: Instant, events: &mut Vec<Event>) {
    for _ in 0..10_000 {
        let mut moved = false;
        for peer in peers.iter_mut() {
            while let Some((to, data)) = peer.poll_transmit() {
                ep.handle_datagram(now, peer.addr(), to, &data);
                moved = true;
            }
        }
        while let Some(t) = ep.poll_transmit() {
            assert_eq!(t.source, server_addr_for(t.destination));
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

/// [`deliver`], returning the endpoint's events.
pub fn pump(ep: &mut Endpoint, peers: &mut [&mut Peer], now: Instant) -> Vec<Event> {
    let mut events = Vec::new();
    deliver(ep, peers, now, &mut events);
    events
}

/// Runs the endpoint and the peers in simulated time from `*now` to
/// `until`, firing every timer when due; returns the endpoint's events.
pub fn run(
    ep: &mut Endpoint,
    peers: &mut [&mut Peer],
    now: &mut Instant,
    until: Instant,
) -> Vec<Event> {
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

/// Runs until the peer is connected (at most 10 simulated seconds) and
/// checks that the endpoint reported session `id` connected too.
pub fn connect(ep: &mut Endpoint, peer: &mut Peer, id: SessionId, now: &mut Instant) -> Vec<Event> {
    let mut events = Vec::new();
    let deadline = *now + secs(10);
    while !peer.is_connected() && *now < deadline {
        let step = *now + Duration::from_millis(50);
        events.extend(run(ep, &mut [&mut *peer], now, step));
    }
    assert!(
        peer.is_connected(),
        "not connected: {:?}",
        peer.dtls_failure()
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Connected { session, .. } if *session == id)),
        "the endpoint did not connect: {events:?}"
    );
    events
}

/// Sends one RTP packet on the peer's audio section (`mid` 0) and returns
/// the SRTP datagram instead of queueing it for [`deliver`].
pub fn take_audio_packet(peer: &mut Peer, now: Instant, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    peer.send_media(now, "0", None, false, timestamp, payload)
        .unwrap();
    let (to, wire) = peer.poll_transmit().expect("the SRTP packet");
    assert_eq!(to, server_addr());
    wire
}

/// Header fields of a decrypted RTP packet: (pt, seq, ssrc, payload).
pub fn rtp_fields(p: &[u8]) -> (u8, u16, u32, &[u8]) {
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
        &p[at..],
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

/// A plain RTP packet (V=2, no marker, no extensions) as the SFU would
/// forward it.
pub fn rtp_packet(pt: u8, seq: u16, timestamp: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    sfu_testkit::rtp::Rtp::new(ssrc, pt, seq, timestamp)
        .payload(payload)
        .build()
}

/// A plain RTP packet: V=2, PT 96, the given sequence number and SSRC.
pub fn rtp(seq: u16, ssrc: u32, payload_len: usize) -> Vec<u8> {
    rtp_packet(
        96,
        seq,
        u32::from(seq) * 3000,
        ssrc,
        &payload(seq, payload_len),
    )
}

/// `len` payload bytes that differ with `seq`.
pub fn payload(seq: u16, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8) ^ (seq as u8)).collect()
}

/// An empty RTCP receiver report from `ssrc`.
pub fn receiver_report(ssrc: u32) -> Vec<u8> {
    sfu_testkit::rtp::Rtcp::new().rr(ssrc, &[]).build()
}

/// A binding request as a browser sends it, hand-crafted with rtc-stun so
/// that any part of it can be wrong.
pub fn binding_request(
    server_ufrag: &str,
    client_ufrag: &str,
    pwd: &str,
    use_candidate: bool,
    fingerprint: bool,
) -> Vec<u8> {
    let provider = rtc_stun::crypto::default_provider().unwrap();
    let mut m = Message::new();
    let username = TextAttribute::new(ATTR_USERNAME, format!("{server_ufrag}:{client_ufrag}"));
    let priority = RawAttribute {
        typ: ATTR_PRIORITY,
        length: 0,
        value: 0x6e0001ffu32.to_be_bytes().to_vec(),
    };
    let controlling = RawAttribute {
        typ: ATTR_ICE_CONTROLLING,
        length: 0,
        value: 42u64.to_be_bytes().to_vec(),
    };
    let nominate = RawAttribute {
        typ: ATTR_USE_CANDIDATE,
        length: 0,
        value: Vec::new(),
    };
    let integrity = MessageIntegrity::new_short_term_integrity_with_provider(
        pwd.to_string(),
        provider.crypto(),
    );
    let mut setters: Vec<Box<dyn Setter + '_>> = vec![
        Box::new(BINDING_REQUEST),
        Box::new(TransactionId::new()),
        Box::new(username),
        Box::new(priority),
        Box::new(controlling),
    ];
    if use_candidate {
        setters.push(Box::new(nominate));
    }
    setters.push(Box::new(integrity));
    if fingerprint {
        setters.push(Box::new(FINGERPRINT));
    }
    m.build(&setters).unwrap();
    m.raw.clone()
}

/// Checks a binding success response with rtc-stun and returns its
/// XOR-MAPPED-ADDRESS.
pub fn verify_binding_response(data: &[u8], pwd: &str) -> Option<SocketAddr> {
    let provider = rtc_stun::crypto::default_provider().unwrap();
    let mut m = Message::new();
    m.unmarshal_binary(data).ok()?;
    if m.typ != BINDING_SUCCESS {
        return None;
    }
    FINGERPRINT.check(&m).ok()?;
    MessageIntegrity::check(&mut m, pwd.as_bytes(), provider.crypto()).ok()?;
    let mut xor = XorMappedAddress::default();
    xor.get_from(&m).ok()?;
    Some(SocketAddr::new(xor.ip, xor.port))
}

/// The peer sends one RTP packet on mid `0`, and session 1 of `ep` hands
/// exactly it on: the session is keyed both ways and alive.
pub fn assert_media_reaches_session_1(ep: &mut Endpoint, peer: &mut Peer, now: Instant) {
    peer.send_media(now, "0", None, false, 960, &payload(1, 300))
        .unwrap();
    let events = pump(ep, &mut [peer], now);
    assert!(
        matches!(events[..], [EndpointEvent::Rtp { session: 1, .. }]),
        "{events:?}"
    );
}
