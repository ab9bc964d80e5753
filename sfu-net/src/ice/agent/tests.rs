use std::net::SocketAddr;

use super::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const LOCAL: &str = "10.0.0.1:443";
const REMOTE: &str = "192.0.2.7:3478";
const REMOTE_PWD: &str = "remote-password-0123456789";

fn agent(now: Instant, remotes: &[&str]) -> IceAgent {
    let local = IceCredentials::from_random(&[3; 32]);
    let config = ControllingIce::new("rfrag".into(), REMOTE_PWD.into(), 42, [5; 32])
        .with_remote_candidates(remotes.iter().map(|r| addr(r)).collect())
        .with_local_addresses(vec![addr(LOCAL), addr("[2001:db8::1]:443")]);
    IceAgent::new(now, &local, config, Duration::from_secs(10))
}

fn response(request: &[u8], kind: u16, key: &[u8], extra: &[(u16, &[u8])]) -> Vec<u8> {
    let msg = StunMessage::parse(request).unwrap();
    let mut out = Vec::new();
    stun::write_message(&mut out, kind, msg.transaction_id(), extra, Some(key));
    out
}

#[test]
fn checks_are_paced_retransmitted_with_backoff_then_fail() {
    let t0 = Instant::now();
    let mut a = agent(t0, &[REMOTE, "192.0.2.8:3478"]);
    a.handle_timeout(t0);
    let (path, first) = a.poll_request().unwrap();
    assert_eq!(path, (addr(REMOTE), addr(LOCAL)));
    let msg = StunMessage::parse(&first).unwrap();
    assert!(msg.use_candidate());
    assert_eq!(msg.ice_role(), Some((true, 42)));
    assert!(msg.verify_integrity(REMOTE_PWD.as_bytes()));
    assert_eq!(
        msg.username().unwrap(),
        format!("rfrag:{}", IceCredentials::from_random(&[3; 32]).ufrag()).as_bytes()
    );
    assert!(a.poll_request().is_none());
    // The second pair starts only after Ta.
    a.handle_timeout(t0 + TA - Duration::from_millis(1));
    assert!(a.poll_request().is_none());
    a.handle_timeout(t0 + TA);
    assert_eq!(a.poll_request().unwrap().0.0, addr("192.0.2.8:3478"));
    // Retransmissions of the first: 0.5 s, then 1 s later, then 2 s later.
    let mut sent = vec![];
    let mut at = t0;
    while at < t0 + Duration::from_secs(12) {
        at += Duration::from_millis(1);
        if a.next_timeout().is_some_and(|t| t <= at) {
            a.handle_timeout(at);
        }
        while let Some((p, bytes)) = a.poll_request() {
            if p.0 == addr(REMOTE) {
                assert_eq!(bytes, first, "a retransmission is the same transaction");
                sent.push(at - t0);
            }
        }
    }
    assert_eq!(
        sent[..3],
        [
            Duration::from_millis(500),
            Duration::from_millis(1500),
            Duration::from_millis(3500)
        ]
    );
    assert!(a.failed());
    assert_eq!(a.stats().sessions_failed, 1);
    assert!(a.transactions().next().is_none());
    assert_eq!(a.next_timeout(), None);
}

#[test]
fn only_a_verified_response_on_the_checked_path_selects() {
    let t0 = Instant::now();
    let mut a = agent(t0, &[REMOTE]);
    a.handle_timeout(t0);
    let (path, request) = a.poll_request().unwrap();
    let ok = response(&request, stun::BINDING_SUCCESS, REMOTE_PWD.as_bytes(), &[]);
    let wrong_key = response(&request, stun::BINDING_SUCCESS, b"not the password", &[]);
    let mut other_tid = ok.clone();
    other_tid[8] ^= 1;
    let check = |a: &mut IceAgent, bytes: &[u8], p: Path| {
        a.handle_response(t0, &StunMessage::parse(bytes).unwrap(), p)
    };
    assert_eq!(
        check(&mut a, &wrong_key, path),
        Err(ResponseRejection::Integrity)
    );
    assert_eq!(
        check(&mut a, &other_tid, path),
        Err(ResponseRejection::Unmatched)
    );
    let elsewhere = (addr("198.51.100.9:3478"), path.1);
    assert_eq!(
        check(&mut a, &ok, elsewhere),
        Err(ResponseRejection::WrongPath)
    );
    let other_local = (path.0, addr("10.0.0.2:443"));
    assert_eq!(
        check(&mut a, &ok, other_local),
        Err(ResponseRejection::WrongPath)
    );
    assert_eq!(
        check(&mut a, &ok, path),
        Ok(ResponseOutcome::Selected(path))
    );
    // A duplicate of the response is over: unmatched.
    assert_eq!(check(&mut a, &ok, path), Err(ResponseRejection::Unmatched));
    // Consent checks from now on, every 4 to 6 s, without USE-CANDIDATE.
    let next = a.next_timeout().unwrap();
    assert!(next >= t0 + Duration::from_secs(4) && next <= t0 + Duration::from_secs(6));
    a.handle_timeout(next);
    let (p, consent) = a.poll_request().unwrap();
    assert_eq!(p, path);
    assert!(!StunMessage::parse(&consent).unwrap().use_candidate());
    let ok = response(&consent, stun::BINDING_SUCCESS, REMOTE_PWD.as_bytes(), &[]);
    assert_eq!(check(&mut a, &ok, path), Ok(ResponseOutcome::Consent(path)));
}

#[test]
fn role_conflicts_switch_or_answer_487() {
    let t0 = Instant::now();
    let mut a = agent(t0, &[REMOTE]);
    a.handle_timeout(t0);
    let (path, request) = a.poll_request().unwrap();
    let code = stun::error_code_value(stun::ROLE_CONFLICT);
    let conflict = response(
        &request,
        stun::BINDING_ERROR,
        REMOTE_PWD.as_bytes(),
        &[(stun::attr::ERROR_CODE, &code)],
    );
    let msg = StunMessage::parse(&conflict).unwrap();
    assert_eq!(
        a.handle_response(t0, &msg, path),
        Ok(ResponseOutcome::RoleSwitched)
    );
    assert!(!a.is_controlling());
    // The pair is checked again, now as controlled, without nominating.
    a.handle_timeout(t0);
    let (_, again) = a.poll_request().unwrap();
    let again = StunMessage::parse(&again).unwrap();
    assert_eq!(again.ice_role(), Some((false, 42)));
    assert!(!again.use_candidate());
    // A peer that also says controlled with a smaller tie-breaker: we take
    // control back; with a larger one while we control: we answer 487.
    let mut req = Vec::new();
    let small = 1u64.to_be_bytes();
    stun::write_message(
        &mut req,
        stun::BINDING_REQUEST,
        &[1; 12],
        &[(stun::attr::ICE_CONTROLLED, &small)],
        None,
    );
    assert_eq!(
        a.check_role(&StunMessage::parse(&req).unwrap()),
        RoleCheck::Switched
    );
    assert!(a.is_controlling());
    stun::write_message(
        &mut req,
        stun::BINDING_REQUEST,
        &[1; 12],
        &[(stun::attr::ICE_CONTROLLING, &small)],
        None,
    );
    assert_eq!(
        a.check_role(&StunMessage::parse(&req).unwrap()),
        RoleCheck::Conflict
    );
    let big = u64::MAX.to_be_bytes();
    stun::write_message(
        &mut req,
        stun::BINDING_REQUEST,
        &[1; 12],
        &[(stun::attr::ICE_CONTROLLING, &big)],
        None,
    );
    assert_eq!(
        a.check_role(&StunMessage::parse(&req).unwrap()),
        RoleCheck::Switched
    );
    assert!(!a.is_controlling());
}

#[test]
fn candidates_are_bounded_and_paired_by_family() {
    let t0 = Instant::now();
    let many: Vec<String> = (0..40).map(|i| format!("192.0.2.{i}:1000")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let a = agent(t0, &refs);
    assert_eq!(a.pairs.len(), MAX_REMOTE_CANDIDATES);
    let a = agent(t0, &["[2001:db8::9]:5000", "192.0.2.1:0"]);
    assert_eq!(a.pairs.len(), 1);
    assert_eq!(a.pairs[0].path.1, addr("[2001:db8::1]:443"));
    let a = agent(t0, &[]);
    assert!(a.failed());
}
