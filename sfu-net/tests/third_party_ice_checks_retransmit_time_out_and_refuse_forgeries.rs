//! The checks of a third-party session (our node offering, controlling
//! ICE) toward a second instance of our ICE-lite node, on an in-memory
//! wire where the test decides what is lost: lost checks are sent again
//! with backoff, a peer that never answers fails the session after the
//! connect timeout, forged or misdirected responses change nothing, and an
//! answer whose fingerprint is not the peer's certificate fails the
//! session in DTLS.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sfu_net::node::ReceiveTrack;
use sfu_net::stun::{self, StunMessage};
use sfu_net::{Certificate, CloseReason, Error, Node, NodeConfig, NodeEvent, SessionId};

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 1 + i], 8443))
}

const DELAY: Duration = Duration::from_millis(5);

/// Node A (offering) and node B (answering), a wire with a fixed delay,
/// and a filter that may drop any datagram.
struct Pair {
    a: Node,
    b: Node,
    now: Instant,
    start: Instant,
    wire: Vec<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
    events: [Vec<(Duration, NodeEvent)>; 2],
    a_session: SessionId,
    b_session: SessionId,
    answer: String,
}

fn node(seed: u8, i: u8) -> Node {
    Node::new(
        NodeConfig::new(Certificate::generate().unwrap(), [seed; 32])
            .with_candidates(vec![addr(i)]),
    )
    .unwrap()
}

impl Pair {
    /// A offers toward B (to receive one audio track), B answers as for a
    /// client; the answer is not applied yet.
    fn new(seed: u8) -> Pair {
        let now = Instant::now();
        let mut a = node(seed, 0);
        let mut b = node(seed.wrapping_add(1), 1);
        let opened = a
            .open_third_party(now, &[], &[ReceiveTrack::audio("voice")])
            .unwrap();
        let b_session = b.create_session(now).unwrap();
        let answer = b
            .push_tracks(now, b_session, &opened.offer.sdp, &[])
            .unwrap()
            .description
            .unwrap()
            .sdp;
        Pair {
            a,
            b,
            now,
            start: now,
            wire: Vec::new(),
            events: [Vec::new(), Vec::new()],
            a_session: opened.session,
            b_session,
            answer,
        }
    }

    fn accept(&mut self, answer: &str) {
        let answer = answer.to_owned();
        self.a
            .accept_answer(self.now, self.a_session, &answer)
            .unwrap();
        self.flush(&mut |_, _, _| true);
    }

    fn flush(&mut self, keep: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8]) -> bool) {
        let at = self.now + DELAY;
        for (i, n) in [&mut self.a, &mut self.b].into_iter().enumerate() {
            while let Some(t) = n.poll_transmit() {
                assert_eq!(t.source, addr(i as u8));
                if keep(t.source, t.destination, &t.contents) {
                    self.wire
                        .push((at, t.source, t.destination, t.contents.to_vec()));
                }
            }
            while let Some(e) = n.poll_event() {
                self.events[i].push((self.now - self.start, e));
            }
        }
    }

    /// Runs `d` of simulated time in 1 ms steps.
    fn run(&mut self, d: Duration, keep: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8]) -> bool) {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(1);
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|w| w.0 <= now);
            self.wire = later;
            for (_, from, to, d) in due {
                let n = if to == addr(0) {
                    &mut self.a
                } else {
                    &mut self.b
                };
                n.handle_datagram(now, from, to, &d);
            }
            for n in [&mut self.a, &mut self.b] {
                if n.poll_timeout().is_some_and(|t| t <= now) {
                    n.handle_timeout(now);
                }
            }
            self.flush(keep);
        }
    }

    fn connected_at(&self) -> Option<Duration> {
        self.events[0].iter().find_map(|(at, e)| {
            matches!(e, NodeEvent::Connected { session } if *session == self.a_session)
                .then_some(*at)
        })
    }

    fn closed(&self) -> Option<(Duration, &CloseReason)> {
        self.events[0].iter().find_map(|(at, e)| match e {
            NodeEvent::Closed { session, reason } if *session == self.a_session => {
                Some((*at, reason))
            }
            _ => None,
        })
    }
}

fn is_stun_request(d: &[u8]) -> bool {
    StunMessage::parse(d).is_ok_and(|m| m.message_type() == stun::BINDING_REQUEST)
}

fn ice_pwd(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=ice-pwd:"))
        .unwrap()
        .to_owned()
}

#[test]
fn lost_checks_are_sent_again_with_backoff() {
    let mut p = Pair::new(1);
    let answer = p.answer.clone();
    p.a.accept_answer(p.now, p.a_session, &answer).unwrap();
    let mut lost = 0;
    let mut transactions = Vec::new();
    let mut drop_three = |from: SocketAddr, _: SocketAddr, d: &[u8]| {
        if from == addr(0) && is_stun_request(d) {
            transactions.push(StunMessage::parse(d).unwrap().transaction_id().to_vec());
            if lost < 3 {
                lost += 1;
                return false;
            }
        }
        true
    };
    p.flush(&mut drop_three);
    p.run(Duration::from_secs(6), &mut drop_three);
    // The first check and its first two retransmissions (0.5 s, then 1 s
    // later) are lost; the third (2 s later) gets through.
    let connected = p.connected_at().expect("connected");
    assert!(connected >= Duration::from_millis(3500), "{connected:?}");
    assert!(connected < Duration::from_secs(4), "{connected:?}");
    let ice = p.a.stats().ice;
    assert_eq!(ice.checks_retransmitted, 3, "{ice:?}");
    assert_eq!(ice.checks_sent, 1, "{ice:?}");
    assert_eq!(ice.responses_accepted, 1, "{ice:?}");
    // Every retransmission is the same transaction.
    assert!(transactions.len() >= 4);
    assert!(transactions[..4].windows(2).all(|w| w[0] == w[1]));
    assert!(p.b.endpoint().selected_path(p.b_session).is_some());
}

#[test]
fn a_peer_that_never_answers_fails_the_session_after_the_timeout() {
    let mut p = Pair::new(2);
    let answer = p.answer.clone();
    p.a.accept_answer(p.now, p.a_session, &answer).unwrap();
    let mut silent = |from: SocketAddr, _: SocketAddr, _: &[u8]| from != addr(0);
    p.flush(&mut silent);
    p.run(Duration::from_millis(9_900), &mut silent);
    assert!(p.closed().is_none());
    assert!(p.a.endpoint().transaction_route_count() > 0);
    p.run(Duration::from_millis(200), &mut silent);
    let (at, reason) = p.closed().expect("closed");
    assert!(
        matches!(reason, CloseReason::Failed(Error::IceFailed)),
        "{reason:?}"
    );
    assert!(at >= Duration::from_secs(10), "{at:?}");
    assert!(!p.a.has_session(p.a_session));
    assert_eq!(p.a.endpoint().transaction_route_count(), 0);
    let ice = p.a.stats().ice;
    assert_eq!(ice.sessions_failed, 1, "{ice:?}");
    // 0, 0.5, 1.5, 3.5 and 7.5 s: the timeout comes before the sixth.
    assert_eq!(ice.checks_sent + ice.checks_retransmitted, 5, "{ice:?}");
    assert_eq!(p.a.stats().endpoint.sessions_failed, 1);
}

#[test]
fn forged_and_misdirected_responses_change_nothing() {
    let mut p = Pair::new(3);
    let answer = p.answer.clone();
    let b_pwd = ice_pwd(&answer);
    p.a.accept_answer(p.now, p.a_session, &answer).unwrap();
    // Capture A's check instead of delivering it.
    let check = p.a.poll_transmit().unwrap();
    assert_eq!(check.destination, addr(1));
    let msg = StunMessage::parse(&check.contents).unwrap();
    assert_eq!(msg.message_type(), stun::BINDING_REQUEST);
    assert!(msg.use_candidate());
    assert!(matches!(msg.ice_role(), Some((true, _))));
    assert!(msg.verify_integrity(b_pwd.as_bytes()));
    let tid = *msg.transaction_id();
    while p.a.poll_event().is_some() {}
    let response = |tid: &[u8; 12], key: &str| {
        let (xor, len) = stun::xor_address_value(addr(0), tid);
        let mut out = Vec::new();
        stun::write_message(
            &mut out,
            stun::BINDING_SUCCESS,
            tid,
            &[(stun::attr::XOR_MAPPED_ADDRESS, &xor[..len])],
            Some(key.as_bytes()),
        );
        out
    };
    let now = p.now + Duration::from_millis(5);
    let before = p.a.stats();
    let wrong_key = response(&tid, "not-the-peers-password-0000");
    p.a.handle_datagram(now, addr(1), addr(0), &wrong_key);
    let mut other = tid;
    other[0] ^= 0x55;
    p.a.handle_datagram(now, addr(1), addr(0), &response(&other, &b_pwd));
    let elsewhere: SocketAddr = "203.0.113.66:8443".parse().unwrap();
    p.a.handle_datagram(now, elsewhere, addr(0), &response(&tid, &b_pwd));
    let other_local: SocketAddr = "198.51.100.99:8443".parse().unwrap();
    p.a.handle_datagram(now, addr(1), other_local, &response(&tid, &b_pwd));
    let mut broken = response(&tid, &b_pwd);
    broken.truncate(30);
    p.a.handle_datagram(now, addr(1), addr(0), &broken);
    assert_eq!(p.a.endpoint().selected_path(p.a_session), None);
    assert!(p.a.poll_event().is_none());
    let after = p.a.stats();
    assert_eq!(
        after.ice.responses_bad_integrity,
        before.ice.responses_bad_integrity + 1
    );
    assert_eq!(
        after.ice.responses_wrong_path,
        before.ice.responses_wrong_path + 2
    );
    assert_eq!(
        after.endpoint.stun_not_binding_request,
        before.endpoint.stun_not_binding_request + 1,
        "a response to no transaction of ours is dropped like other unexpected STUN"
    );
    assert_eq!(
        after.endpoint.stun_malformed,
        before.endpoint.stun_malformed + 1
    );
    assert_eq!(after.ice.responses_accepted, 0);
    assert_eq!(p.a.endpoint().path_route_count(), 0);
    // The genuine response (B's password, from B, to us) selects the pair.
    p.a.handle_datagram(now, addr(1), addr(0), &response(&tid, &b_pwd));
    assert_eq!(
        p.a.endpoint().selected_path(p.a_session),
        Some((addr(1), addr(0)))
    );
    assert_eq!(p.a.stats().ice.responses_accepted, 1);
    // ... once: a replay of it is unmatched and changes nothing.
    p.a.handle_datagram(now, addr(1), addr(0), &response(&tid, &b_pwd));
    assert_eq!(p.a.stats().ice.responses_accepted, 1);
}

#[test]
fn an_answer_with_the_wrong_fingerprint_fails_the_session() {
    let mut p = Pair::new(4);
    let other = Certificate::generate().unwrap();
    let forged: String = p
        .answer
        .lines()
        .map(|l| {
            if l.starts_with("a=fingerprint:") {
                format!("a=fingerprint:{}\r\n", other.fingerprint())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(forged, p.answer);
    p.accept(&forged);
    p.run(Duration::from_secs(3), &mut |_, _, _| true);
    assert!(p.connected_at().is_none());
    let (_, reason) = p.closed().expect("closed");
    assert!(
        matches!(
            reason,
            CloseReason::Failed(Error::FingerprintMismatch { .. })
        ),
        "{reason:?}"
    );
    // ICE itself had worked.
    assert!(p.a.stats().ice.responses_accepted >= 1);
}
