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
    offer: String,
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
            offer: opened.offer.sdp,
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
                // Nobody lives at any other address.
                if to == addr(0) {
                    self.a.handle_datagram(now, from, to, &d);
                } else if to == addr(1) {
                    self.b.handle_datagram(now, from, to, &d);
                }
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

fn sdp_attr(sdp: &str, key: &str) -> String {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("a={key}:")))
        .unwrap()
        .to_owned()
}

fn ice_pwd(sdp: &str) -> String {
    sdp_attr(sdp, "ice-pwd")
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

#[test]
fn consent_lapses_when_the_peer_stops_answering_our_consent_checks() {
    let mut p = Pair::new(5);
    let answer = p.answer.clone();
    p.accept(&answer);
    p.run(Duration::from_secs(2), &mut |_, _, _| true);
    assert!(p.connected_at().is_some());
    // From now on nothing B sends reaches A; A's consent checks still
    // reach B (which keeps its side alive on them).
    let mut one_way = |from: SocketAddr, _: SocketAddr, _: &[u8]| from != addr(1);
    p.run(Duration::from_secs(27), &mut one_way);
    assert!(p.closed().is_none());
    p.run(Duration::from_secs(2), &mut one_way);
    let (at, reason) = p.closed().expect("consent expired");
    assert!(matches!(reason, CloseReason::ConsentExpired), "{reason:?}");
    assert!(at >= Duration::from_secs(30), "{at:?}");
    let ice = p.a.stats().ice;
    assert!(ice.checks_sent >= 6, "consent checks kept going: {ice:?}");
}

#[test]
fn hostile_candidates_in_the_answer_are_bounded() {
    let mut p = Pair::new(6);
    let mut extra = String::new();
    for i in 0..40 {
        extra.push_str(&format!(
            "a=candidate:{i} 1 udp 100 203.0.113.{i} 9 typ host\r\n"
        ));
    }
    extra.push_str("a=candidate:x 1 tcp 2130706431 203.0.113.200 9 typ host tcptype passive\r\n");
    extra.push_str("a=candidate:y 1 udp 2130706431 abcd-ef.local 9 typ host\r\n");
    extra.push_str("a=candidate:z 1 udp 2130706431 203.0.113.201 0 typ host\r\n");
    extra.push_str("a=candidate:junk\r\n");
    let answer = p.answer.replace(
        "a=end-of-candidates",
        &format!("{extra}a=end-of-candidates"),
    );
    assert_ne!(answer, p.answer);
    p.a.accept_answer(p.now, p.a_session, &answer).unwrap();
    // B's answers are lost for 2 s: A checks every pair it made.
    let mut destinations = Vec::new();
    let mut record = |from: SocketAddr, to: SocketAddr, d: &[u8]| {
        if from == addr(0) && is_stun_request(d) && !destinations.contains(&to) {
            destinations.push(to);
        }
        from != addr(1)
    };
    p.flush(&mut record);
    p.run(Duration::from_secs(2), &mut record);
    assert!(p.a.endpoint().transaction_route_count() <= sfu_net::ice::MAX_REMOTE_CANDIDATES);
    // B's own candidate has the highest priority: checked first; then
    // the others, at most the bound, none of the unusable ones.
    assert_eq!(destinations.first(), Some(&addr(1)));
    assert_eq!(destinations.len(), sfu_net::ice::MAX_REMOTE_CANDIDATES);
    assert!(destinations.iter().all(|d| d.port() == 9 || *d == addr(1)));
    // Then B's retransmitted check is answered.
    p.run(Duration::from_secs(3), &mut |_, _, _| true);
    assert!(p.connected_at().is_some());
    assert!(p.a.endpoint().transaction_route_count() <= sfu_net::ice::MAX_REMOTE_CANDIDATES);
}

#[test]
fn an_answer_without_a_usable_candidate_fails_at_once() {
    let mut p = Pair::new(7);
    let answer: String = p
        .answer
        .lines()
        .filter(|l| !l.starts_with("a=candidate"))
        .map(|l| format!("{l}\n"))
        .collect();
    p.accept(&answer);
    let (at, reason) = p.closed().expect("failed");
    assert_eq!(at, Duration::ZERO);
    assert!(
        matches!(reason, CloseReason::Failed(Error::IceFailed)),
        "{reason:?}"
    );
    assert_eq!(p.a.endpoint().session_count(), 0);
}

#[test]
fn role_conflicts_are_settled_by_the_tie_breaker() {
    let mut p = Pair::new(8);
    let answer = p.answer.clone();
    p.a.accept_answer(p.now, p.a_session, &answer).unwrap();
    while p.a.poll_transmit().is_some() {}
    while p.a.poll_event().is_some() {}
    let (a_ufrag, a_pwd) = (sdp_attr(&p.offer, "ice-ufrag"), ice_pwd(&p.offer));
    let b_ufrag = sdp_attr(&answer, "ice-ufrag");
    // A full peer claiming the controlling role too.
    let claim = |tid: u8, tie_breaker: u64| {
        let username = format!("{a_ufrag}:{b_ufrag}");
        let mut out = Vec::new();
        stun::write_message(
            &mut out,
            stun::BINDING_REQUEST,
            &[tid; 12],
            &[
                (stun::attr::USERNAME, username.as_bytes()),
                (stun::attr::ICE_CONTROLLING, &tie_breaker.to_be_bytes()),
            ],
            Some(a_pwd.as_bytes()),
        );
        out
    };
    let now = p.now + Duration::from_millis(1);
    // A smaller tie-breaker than any: we keep control and answer 487.
    p.a.handle_datagram(now, addr(1), addr(0), &claim(1, 0));
    let reply = p.a.poll_transmit().unwrap();
    let msg = StunMessage::parse(&reply.contents).unwrap();
    assert_eq!(msg.message_type(), stun::BINDING_ERROR);
    assert_eq!(msg.error_code(), Some(stun::ROLE_CONFLICT));
    assert!(matches!(msg.ice_role(), Some((true, _))));
    assert!(msg.verify_integrity(a_pwd.as_bytes()) && msg.verify_fingerprint());
    assert_eq!(p.a.endpoint().selected_path(p.a_session), None);
    assert_eq!(p.a.stats().ice.role_conflicts_answered, 1);
    // The largest: we become controlled and answer, and the peer's valid
    // check selects the path (the controlling side decides now).
    p.a.handle_datagram(now, addr(1), addr(0), &claim(2, u64::MAX));
    let reply = p.a.poll_transmit().unwrap();
    let msg = StunMessage::parse(&reply.contents).unwrap();
    assert_eq!(msg.message_type(), stun::BINDING_SUCCESS);
    assert_eq!(p.a.stats().ice.role_switches, 1);
    assert_eq!(
        p.a.endpoint().selected_path(p.a_session),
        Some((addr(1), addr(0)))
    );
    // As the DTLS client, A starts its handshake on the selected path.
    let hello = p.a.poll_transmit().unwrap();
    assert_eq!(hello.destination, addr(1));
    assert!((20..64).contains(&hello.contents[0]), "a DTLS record");
}

#[test]
fn the_same_seed_draws_the_same_checks() {
    // Transaction ids and the tie-breaker come from the node's seeded
    // generator: two runs from the same seeds send the same checks.
    let checks = || {
        let mut p = Pair::new(9);
        let answer = p.answer.clone();
        p.a.accept_answer(p.now, p.a_session, &answer).unwrap();
        let mut sent = Vec::new();
        let mut record = |from: SocketAddr, _: SocketAddr, d: &[u8]| {
            if from == addr(0) && is_stun_request(d) {
                sent.push(d.to_vec());
            }
            // B never answers: every retransmission and the failure.
            from != addr(1)
        };
        p.flush(&mut record);
        p.run(Duration::from_secs(11), &mut record);
        sent
    };
    let first = checks();
    assert_eq!(first.len(), 5);
    assert_eq!(first, checks());
    let role = StunMessage::parse(&first[0]).unwrap().ice_role();
    assert!(matches!(role, Some((true, t)) if t != 0));
}
