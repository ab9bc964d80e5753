//! A WHEP viewer that arrives before its publisher gets idle sections that
//! start delivering when the publisher comes; when the publisher leaves and
//! another takes its place, the viewer sees one continuous stream (sequence
//! numbers continue across the restart).

mod node_world;

use std::time::Duration;

use node_world::{Camera, World, peer_addr, received_on};
use sfu_net::NodeEvent;
use sfu_testkit::peer::PeerConfig;

#[test]
fn a_viewer_first_then_two_publishers_in_turn_sees_one_stream() {
    let mut w = World::new(2, 1);
    let viewer = w.add_peer(
        PeerConfig::new(peer_addr(0), 30)
            .receive_audio()
            .receive_video(),
    );
    let viewing = w.view(0, viewer, None);
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0])));

    let first = w.add_peer(PeerConfig::new(peer_addr(1), 31).send_audio().send_video());
    let source = w.publish(0, first);
    let pulls = w.nodes[0].source_pulls(source);
    w.nodes[0].attach(w.now, viewing, &pulls).unwrap();
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[1])));
    let mut camera = Camera::new(first, Some("0"), Some("1"));
    w.run_with(Duration::from_secs(2), &mut |w| camera.tick(w));
    let before = received_on(&w, viewer, "1");
    assert!(before.len() > 100, "{} video packets", before.len());

    w.nodes[0].close_session(w.now, source).unwrap();
    w.run(Duration::from_millis(200));
    assert!(w.events[0].iter().any(|e| matches!(e,
        NodeEvent::SubscriptionEnded { session, .. } if *session == viewing)));

    let second = w.add_peer(PeerConfig::new(peer_addr(2), 32).send_audio().send_video());
    let source = w.publish(0, second);
    let pulls = w.nodes[0].source_pulls(source);
    w.nodes[0].attach(w.now, viewing, &pulls).unwrap();
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[2])));
    let mut camera = Camera::new(second, Some("0"), Some("1"));
    w.run_with(Duration::from_secs(2), &mut |w| camera.tick(w));

    let all = received_on(&w, viewer, "1");
    assert!(
        all.len() > before.len() + 100,
        "{} then {}",
        before.len(),
        all.len()
    );
    for pair in all.windows(2) {
        assert_eq!(pair[1].0, pair[0].0.wrapping_add(1), "{pair:?}");
    }
}
