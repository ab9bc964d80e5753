//! Session lifecycle against the real endpoint: consent checks keep a
//! session alive, `stop_consent` lets the endpoint's consent timer close
//! it, `close` ends it with close_notify, `move_to` moves its path, and a
//! wrong fingerprint in the SFU's answer stops the peer from keying SRTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use sfu_net::{CloseReason, EndpointConfig, EndpointEvent};
use sfu_testkit::peer::{Peer, PeerConfig};

fn closed(events: &[Event]) -> Option<&CloseReason> {
    events.iter().find_map(|e| match e {
        EndpointEvent::Closed { reason, .. } => Some(reason),
        _ => None,
    })
}

#[test]
fn consent_checks_keep_the_session_and_stopping_them_lets_it_expire() {
    let mut now = Instant::now();
    let consent_timeout = Duration::from_secs(30);
    let mut ep = endpoint(EndpointConfig::default().with_consent_timeout(consent_timeout));
    let mut peer = Peer::new(
        now,
        PeerConfig::new(addr("198.51.100.40:50000"), 12).send_audio(),
    );
    publish(&mut ep, &mut peer, 12, now);
    connect(&mut ep, &mut peer, 12, &mut now);

    // A minute of consent checks every 5 s: still alive.
    let checks_before = peer.stats().checks_sent;
    let until = now + Duration::from_secs(60);
    let events = run(&mut ep, &mut [&mut peer], &mut now, until);
    assert!(closed(&events).is_none(), "closed: {events:?}");
    let checks = peer.stats().checks_sent - checks_before;
    assert!(
        (11..=13).contains(&checks),
        "{checks} consent checks in 60 s"
    );
    assert_eq!(peer.stats().check_responses, peer.stats().checks_sent);
    assert_eq!(ep.session_count(), 1);

    // No more checks: the endpoint closes the session after its timeout.
    peer.stop_consent();
    let stopped_at = now;
    let mut events = Vec::new();
    let mut closed_at = None;
    while closed_at.is_none() && now < stopped_at + Duration::from_secs(40) {
        let until = now + Duration::from_millis(500);
        let step = run(&mut ep, &mut [&mut peer], &mut now, until);
        if closed(&step).is_some() {
            closed_at = Some(now);
        }
        events.extend(step);
    }
    assert!(matches!(closed(&events), Some(CloseReason::ConsentExpired)));
    let after = closed_at.unwrap() - stopped_at;
    assert!(
        after <= consent_timeout + Duration::from_secs(1),
        "closed {after:?} after the last check"
    );
    assert!(after >= consent_timeout - Duration::from_secs(6));
    assert_eq!(ep.session_count(), 0);
}

#[test]
fn close_sends_close_notify_and_the_endpoint_closes_at_once() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = Peer::new(
        now,
        PeerConfig::new(addr("198.51.100.41:50000"), 13).send_video(),
    );
    publish(&mut ep, &mut peer, 13, now);
    connect(&mut ep, &mut peer, 13, &mut now);
    peer.close(now);
    assert!(!peer.is_connected());
    let mut events = Vec::new();
    deliver(&mut ep, &mut [&mut peer], now, &mut events);
    assert!(matches!(closed(&events), Some(CloseReason::CloseNotify)));
    assert_eq!(peer.poll_timeout(), None, "a closed peer has no timers");
}

#[test]
fn move_to_moves_the_endpoints_path_and_media_follows() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = Peer::new(
        now,
        PeerConfig::new(addr("198.51.100.42:50000"), 14).send_audio(),
    );
    publish(&mut ep, &mut peer, 14, now);
    connect(&mut ep, &mut peer, 14, &mut now);
    let new_addr = addr("203.0.113.99:40000");
    peer.move_to(new_addr);
    let until = now + Duration::from_millis(100);
    let events = run(&mut ep, &mut [&mut peer], &mut now, until);
    assert!(events.iter().any(|e| matches!(
        e,
        EndpointEvent::PathSelected { session: 14, remote, .. } if *remote == new_addr
    )));
    assert!(peer.ice_succeeded());
    assert_eq!(ep.selected_path(14).map(|p| p.0), Some(new_addr));
    peer.send_opus(now, "0").unwrap();
    let until = now + Duration::from_millis(20);
    let events = run(&mut ep, &mut [&mut peer], &mut now, until);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EndpointEvent::Rtp { session: 14, .. }))
    );
}

#[test]
fn a_wrong_fingerprint_in_the_answer_stops_the_peer_from_keying() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = Peer::new(
        now,
        PeerConfig::new(addr("198.51.100.43:50000"), 15).send_audio(),
    );
    let (credentials, mut local) = local_transport(&ep, 15);
    local.fingerprint = sfu_net::Fingerprint::of_der(b"some other certificate");
    let offer = sfu_net::sdp::PublishOffer::parse(&peer.create_offer()).unwrap();
    let answer = offer
        .answer(&local, &sfu_net::sdp::Capabilities::default())
        .unwrap();
    ep.add_session(
        now,
        15,
        sfu_net::TransportConfig {
            credentials,
            remote_ufrag: Some(offer.remote().ice.ufrag.clone()),
            remote_fingerprint: offer.remote().fingerprint,
            remote_ssrcs: peer.local_ssrcs(),
            learn_remote_ssrcs: false,
        },
    )
    .unwrap();
    peer.apply_answer(&answer.to_sdp()).unwrap();
    let until = now + Duration::from_secs(3);
    run(&mut ep, &mut [&mut peer], &mut now, until);
    assert!(!peer.is_connected());
    assert!(peer.ice_succeeded());
    let why = peer.dtls_failure().expect("DTLS failed");
    assert!(why.contains("fingerprint"), "{why}");
    assert!(peer.send_opus(now, "0").is_err());
}
