//! Consent freshness through the node: a viewer that stops its consent
//! checks is closed after the consent timeout (30 s), with the reason,
//! and its pulls end; the publisher is unaffected.

mod node_world;

use std::time::Duration;

use node_world::{World, peer_addr};
use sfu_net::{CloseReason, NodeEvent};
use sfu_testkit::peer::PeerConfig;

#[test]
fn a_viewer_that_stops_consent_is_closed_after_30_seconds() {
    let mut w = World::new(6, 1);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 70).send_audio());
    let viewer = w.add_peer(PeerConfig::new(peer_addr(1), 71).receive_audio());
    let source = w.publish(0, publisher);
    let sv = w.view(0, viewer, Some(source));
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0, 1])));
    let stopped = w.now;
    w.peers[viewer].stop_consent();
    assert!(w.run_until(Duration::from_secs(40), |w| w.closed(0, sv)));
    let waited = w.now - stopped;
    assert!(
        waited >= Duration::from_secs(25) && waited <= Duration::from_secs(31),
        "{waited:?}"
    );
    assert!(w.events[0].iter().any(|e| matches!(e,
        NodeEvent::Closed { session, reason: CloseReason::ConsentExpired } if *session == sv)));
    assert!(!w.closed(0, source));
    assert!(!w.nodes[0].has_session(sv) && w.nodes[0].has_session(source));
}

#[test]
fn a_session_that_never_negotiates_is_reclaimed() {
    let mut w = World::new(7, 1);
    let s = w.nodes[0].create_session(w.now).unwrap();
    w.run(Duration::from_secs(31));
    assert!(w.events[0].iter().any(|e| matches!(e,
        NodeEvent::Closed { session, reason: CloseReason::NeverNegotiated } if *session == s)));
    assert!(!w.nodes[0].has_session(s));
}
