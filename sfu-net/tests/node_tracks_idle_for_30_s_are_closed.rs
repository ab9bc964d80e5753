//! Track garbage collection as the Calls API does it: a published track
//! that receives no RTP for 30 s (counted from its publish when none ever
//! came) is closed by the node; its viewers' pulls end, the publisher is
//! told, and its session lives on. A track that keeps sending is kept, and
//! tracks a relay link publishes are left to the link's owner.

mod node_world;

use std::time::Duration;

use node_world::{Camera, World, node_addr, peer_addr, received_on};
use sfu_net::{Certificate, Error, Node, NodeConfig, NodeEvent, PullTrack, TrackEndReason};
use sfu_testkit::peer::PeerConfig;

#[test]
fn a_camera_that_goes_dark_for_30_s_is_closed_while_its_microphone_is_kept() {
    let mut w = World::new(21, 1);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 210).send_audio().send_video());
    let viewer = w.add_peer(
        PeerConfig::new(peer_addr(1), 211)
            .receive_audio()
            .receive_video(),
    );
    let source = w.publish(0, publisher);
    let sv = w.view(0, viewer, Some(source));
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0, 1])));
    let mut both = Camera::new(publisher, Some("0"), Some("1"));
    w.run_with(Duration::from_secs(2), &mut |w| both.tick(w));
    assert!(received_on(&w, viewer, "1").len() > 100);

    // The camera stops; the microphone goes on.
    let mut mic = Camera::new(publisher, Some("0"), None);
    w.run_with(Duration::from_secs(29), &mut |w| mic.tick(w));
    assert_eq!(w.published_names(0, source), ["0", "1"]);
    assert!(!w.track_ended(0, source, "1") && !w.subscription_ended(0, sv, "1"));
    assert_eq!(w.nodes[0].stats().tracks_idle_closed, 0);

    w.run_with(Duration::from_secs(2), &mut |w| mic.tick(w));
    assert!(w.events[0].iter().any(|e| matches!(e,
        NodeEvent::TrackEnded { session, name, reason: TrackEndReason::Idle }
            if *session == source && name == "1")));
    assert!(w.events[0].iter().any(|e| matches!(e,
        NodeEvent::SubscriptionEnded { session, mid: Some(mid), publisher, name, .. }
            if *session == sv && mid == "1" && *publisher == source && name == "1")));
    assert_eq!(w.published_names(0, source), ["0"]);
    assert!(!w.track_ended(0, source, "0") && !w.subscription_ended(0, sv, "0"));
    assert_eq!(w.nodes[0].stats().tracks_idle_closed, 1);

    // The sessions live on, and the microphone still reaches the viewer.
    assert!(!w.closed(0, source) && !w.closed(0, sv));
    let audio = received_on(&w, viewer, "0").len();
    w.run_with(Duration::from_secs(1), &mut |w| mic.tick(w));
    assert!(received_on(&w, viewer, "0").len() > audio + 40);
}

#[test]
fn a_track_that_never_sends_is_closed_30_s_after_its_publish() {
    let mut w = World::new(22, 1);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 220).send_video());
    let viewer = w.add_peer(PeerConfig::new(peer_addr(1), 221).receive_video());
    let published = w.now;
    let source = w.publish(0, publisher);
    let sv = w.view(0, viewer, Some(source));
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0, 1])));

    w.run(Duration::from_secs(29) - (w.now - published));
    assert_eq!(w.published_names(0, source), ["0"]);
    assert!(w.run_until(Duration::from_secs(3), |w| w.track_ended(0, source, "0")));
    let waited = w.now - published;
    assert!(
        waited >= Duration::from_secs(30) && waited <= Duration::from_millis(30_100),
        "{waited:?}"
    );
    w.flush();
    assert!(w.subscription_ended(0, sv, "0"));
    assert!(w.published_names(0, source).is_empty());
    assert!(w.nodes[0].has_session(source) && !w.closed(0, source));
}

#[test]
fn tracks_a_relay_link_publishes_are_not_collected() {
    let mut w = World::new(23, 2);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 230).send_video());
    let now = w.now;
    let out = w.nodes[0]
        .open_relay(now, node_addr(1), None, true)
        .unwrap();
    let inn = w.nodes[1]
        .open_relay(now, node_addr(0), None, false)
        .unwrap();
    let source = w.publish(0, publisher);
    let track = w.nodes[0]
        .relay_track(now, out, source, "0", "cam")
        .unwrap();
    w.nodes[1].accept_relay_track(now, inn, track).unwrap();
    let viewer = w.add_peer(PeerConfig::new(peer_addr(1), 231).receive_video());
    let offer = w.peers[viewer].create_offer();
    let viewing = w.nodes[1]
        .view(now, &offer, &[PullTrack::new(inn, "cam")], None)
        .unwrap();
    w.peers[viewer].apply_answer(&viewing.answer).unwrap();
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0, 1])));

    w.run(Duration::from_secs(35));
    // The client's silent track on the ingest node is collected (ending
    // its relay), the link's on the edge node is not.
    assert!(w.track_ended(0, source, "0"));
    assert_eq!(w.published_names(1, inn), ["cam"]);
    assert!(!w.subscription_ended(1, viewing.session, "0"));
    assert_eq!(w.nodes[1].stats().tracks_idle_closed, 0);
}

#[test]
fn a_zero_idle_timeout_is_refused() {
    let config = NodeConfig::new(Certificate::generate().unwrap(), [0; 32])
        .with_track_idle_timeout(Duration::ZERO);
    assert!(matches!(
        Node::new(config),
        Err(Error::InvalidNodeConfig(_))
    ));
}
